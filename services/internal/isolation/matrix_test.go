package isolation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// Role groups the rows name.
var (
	villageRoles = identity.VillageRoles
	districtAll  = identity.DistrictRoles
	// townActors are the town roles that act in villages' processes
	// (identity.CanActInVillage); town-it manages accounts only.
	townActors = []identity.Role{identity.RoleTownOfficial, identity.RoleTownFinance, identity.RoleTownDiscipline}
	// applicationHandlers file villagers' applications (代办) and handle
	// them: the village's cadres who serve villagers, the town's service
	// desk.
	applicationHandlers = []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleCommitteeMember,
		identity.RoleAccountant, identity.RoleCashier, identity.RoleTownOfficial}
	// readers read a village's non-public records (identity.CanReadVillage).
	readers = roles(villageRoles, townActors, districtAll)
	// inspectors read the inspection's records (tours, findings, orders,
	// interviews) and run its rounds and orders: the town's discipline
	// office and the district's.
	inspectors = []identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline}
	discipline = []identity.Role{identity.RoleTownDiscipline}
	finance    = []identity.Role{identity.RoleTownFinance}
	// wfReaders read a village's processes: the readers and the liaison
	// cadres (联村干部) assigned to the village (principal.reaches).
	wfReaders = roles(readers, identity.CadreRoles)
)

func roles(groups ...[]identity.Role) []identity.Role { return slices.Concat(groups...) }

// row is one route of one service: who of town X (and of the district) may
// use it. Everyone of town Y is refused on every authenticated route.
type row struct {
	service, pattern string
	public           bool
	// allow lists the roles of town X and of the district that get
	// through, for the request the row makes (village roles are of v1).
	allow []identity.Role
	// path is the request's path: {village} is v1 (w1, town Y's, in the
	// other-town-village check), <name> a fixture of world.fixtures.
	path string
	// body of the request (JSON unless a rawBody), or bodyFor by role.
	body    any
	bodyFor func(identity.Role) any
	// narrows: a town-wide list that answers a caller whose narrower scope
	// (a liaison cadre's villages) leaves out v1 with 200 and none of v1's
	// records, rather than a refusal.
	narrows bool
	// personal: the caller's own records (the inbox), not a village's: a
	// liaison cadre of the town reaches them whatever its villages.
	personal bool
}

func (r row) bodyOf(role identity.Role) any {
	if r.bodyFor != nil {
		return r.bodyFor(role)
	}
	return r.body
}

// pub is a public route's row.
func pub(service, pattern string) row { return row{service: service, pattern: pattern, public: true} }

// operational are the routes every httpapi.Server has (/metrics is on a
// listener of its own, not among them).
var operational = []string{"GET /healthz", "GET /readyz"}

var (
	evidence = workflow.EvidenceRequest{StepID: "propose", Kind: workflow.EvidenceResolution, Name: "会议记录.pdf",
		URL: "https://files.example.cn/m.pdf", SHA256: strings.Repeat("ab", 32), Size: 1024}
	evidenceUpload = multipartPDF("propose", "会议记录.pdf")
	relative       = map[string]string{"cadreId": "cadre-1", "idNumber": idNumber("33028319800101123"), "relation": "配偶"}
	sanctions      = inspection.WriteSectionRequest{Content: inspection.SectionContent{Items: []inspection.Record{{Date: "2025-06-01", Until: "2026-12-31", Kind: "党内警告", Summary: "违规发放补贴"}}}}
	anyAnswers     = inspection.SelectionCheckRequest{Answers: map[string]bool{}}
	deceasedCSV    = rawBody{"text/csv", "身份证号,姓名,死亡日期\n" + idNumber("33028319400202003") + ",李大爷,2026-01-15\n"}
	newTour        = inspection.TourInput{Name: "第二轮巡察", Period: fmt.Sprint(time.Now().Year()), Team: []inspection.TeamMember{{Name: "李巡察", Role: "组长"}}, Villages: []string{"{village}"}}
	newFinding     = inspection.FindingInput{Village: "{village}", Category: "财务管理", Description: "票据不全", Severity: inspection.SeverityMinor,
		Tasks: []inspection.TaskInput{{Owner: "村会计", Action: "补齐票据", Deadline: time.Now().AddDate(0, 1, 0).Format(time.DateOnly)}}}
	newOrder     = inspection.OrderRequest{Village: "{village}", Situation: "duty-02"}
	newInterview = map[string]any{"village": "{village}", "cadreName": "李某", "heldAt": time.Now().Add(-2 * time.Hour),
		"interviewers": []string{"镇纪委书记"}, "reason": "公开不及时", "outcome": "提醒谈话"}
)

// multipartPDF is an evidence upload: the fields stepId and kind, and a
// small PDF as the part named file.
func multipartPDF(step, name string) rawBody {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	_ = mw.WriteField("stepId", step)
	_ = mw.WriteField("kind", workflow.EvidenceResolution)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(pdfBytes)
	_ = mw.Close()
	return rawBody{mw.FormDataContentType(), b.String()}
}

var pdfBytes = []byte("%PDF-1.4\n% isolation matrix\n")

// pngPhoto is an evidence photo for answers to notices and orders.
var pngPhoto = func() rawBody {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)))
	return rawBody{"image/png", b.String()}
}()

// answerers answer their village's notices and orders.
var answerers = []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}

var villageAnswer = inspection.Answer{Report: "已整改", Evidence: []inspection.AnswerEvidence{{Text: "公开栏已更新"}}}

// startBody starts the 小资金-free items a role may start: the village's
// major-matters process for cadres, the departure handover (first step the
// town official's) for town staff.
func startBody(role identity.Role) any {
	if role.IsTownRole() {
		return workflow.StartRequest{ItemID: "duty-departure-handover", Title: "离任交接"}
	}
	return workflow.StartRequest{ItemID: "decision-major-matters", Title: "村道硬化"}
}

// matrix is the table: one row per (service, route pattern).
func matrix() []row {
	today := time.Now().Format(time.DateOnly)
	rows := []row{
		// workflow
		pub(svcWorkflow, "GET /openapi.yaml"),
		pub(svcWorkflow, "GET /v1/catalog"),
		pub(svcWorkflow, "GET /v1/catalog/items/{item}/flowchart.svg"),
		pub(svcWorkflow, "GET /v1/catalog/items/{item}/flowchart.mmd"),
		pub(svcWorkflow, "GET /v1/public/track/{number}"),
		pub(svcWorkflow, "GET /v1/public/track/{number}/flowchart.svg"),
		{service: svcWorkflow, pattern: "POST /v1/villages/{village}/instances", path: "/v1/villages/{village}/instances",
			bodyFor: startBody, allow: []identity.Role{identity.RoleSecretary, identity.RoleTownOfficial}},
		{service: svcWorkflow, pattern: "GET /v1/villages/{village}/instances", path: "/v1/villages/{village}/instances", allow: wfReaders},
		{service: svcWorkflow, pattern: "GET /v1/villages/{village}/warnings", path: "/v1/villages/{village}/warnings", allow: wfReaders},
		{service: svcWorkflow, pattern: "POST /v1/villages/{village}/relatives", path: "/v1/villages/{village}/relatives", body: relative,
			allow: []identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline}},
		{service: svcWorkflow, pattern: "GET /v1/instances/{id}", path: "/v1/instances/<instance.read>", allow: wfReaders},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/steps/{step}/complete", path: "/v1/instances/<instance.complete>/steps/propose/complete",
			body: workflow.CompleteRequest{Note: "支部会议提议"}, allow: []identity.Role{identity.RoleSecretary}},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/evidence", path: "/v1/instances/<instance.evidence>/evidence", body: evidence,
			allow: roles(villageRoles, townActors)},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/comments", path: "/v1/instances/<instance.comments>/comments",
			body: map[string]string{"body": "请尽快办理"}, allow: roles(villageRoles, townActors)},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/withdraw", path: "/v1/instances/<instance.withdraw>/withdraw",
			body: map[string]string{"reason": "不再需要"}, allow: []identity.Role{identity.RoleSecretary, identity.RoleDirector}},
		{service: svcWorkflow, pattern: "GET /v1/instances", path: "/v1/instances", allow: wfReaders, narrows: true},
		{service: svcWorkflow, pattern: "GET /v1/villages", path: "/v1/villages", allow: wfReaders, narrows: true},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/evidence/files", path: "/v1/instances/<instance.files>/evidence/files",
			body: evidenceUpload, allow: roles(villageRoles, townActors)},
		{service: svcWorkflow, pattern: "GET /v1/instances/{id}/evidence/files/{file}", path: "/v1/instances/<instance.read>/evidence/files/<evidence.file>",
			allow: wfReaders},
		{service: svcWorkflow, pattern: "GET /v1/instances/{id}/audit", path: "/v1/instances/<instance.read>/audit", allow: wfReaders},
		{service: svcWorkflow, pattern: "GET /v1/instances/{id}/flowchart.svg", path: "/v1/instances/<instance.read>/flowchart.svg", allow: wfReaders},
		// villagers' applications: public intake and pages; 代办 and the
		// cadre's actions by the village's cadres and the town's service desk
		pub(svcWorkflow, "POST /v1/public/villages/{village}/applications"),
		pub(svcWorkflow, "POST /v1/public/applications/{number}/supplement"),
		pub(svcWorkflow, "GET /a/{village}"),
		pub(svcWorkflow, "GET /a/{village}/supplement"),
		pub(svcWorkflow, "POST /a/{village}/supplement"),
		pub(svcWorkflow, "GET /a/{village}/{item}"),
		pub(svcWorkflow, "POST /a/{village}/{item}"),
		{service: svcWorkflow, pattern: "POST /v1/villages/{village}/applications", path: "/v1/villages/{village}/applications",
			body: workflow.OnBehalfRequest{ItemID: "service-certificate", ApplicantName: "李四", ApplicantPhone: "13900139000"}, allow: applicationHandlers},
		{service: svcWorkflow, pattern: "GET /v1/instances/{id}/application", path: "/v1/instances/<application.read>/application", allow: wfReaders},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/materials-request", path: "/v1/instances/<application.request>/materials-request",
			body: workflow.MaterialsRequestInput{Missing: []string{"户口簿"}}, allow: applicationHandlers},
		{service: svcWorkflow, pattern: "POST /v1/instances/{id}/appointment", path: "/v1/instances/<application.appointment>/appointment",
			body: workflow.AppointmentInput{Note: "无需到场"}, allow: applicationHandlers},

		// disclosure
		pub(svcDisclosure, "GET /openapi.yaml"),
		pub(svcDisclosure, "GET /v1/public/villages/{village}/wallet"),
		pub(svcDisclosure, "GET /v1/public/villages/{village}/subsidies"),
		pub(svcDisclosure, "POST /v1/public/villages/{village}/subsidies/lookup"),
		pub(svcDisclosure, "GET /v1/public/villages/{village}/export/{year}/ledger.csv"),
		pub(svcDisclosure, "GET /v1/public/villages/{village}/export/{year}/datapackage.json"),
		pub(svcDisclosure, "GET /v1/public/villages/{village}/export/{year}/{file}"),
		pub(svcDisclosure, "GET /v/{village}"),
		pub(svcDisclosure, "GET /v/{village}/subsidies"),
		pub(svcDisclosure, "POST /v/{village}/subsidies/lookup"),
		pub(svcDisclosure, "GET /v/{village}/processes"),
		pub(svcDisclosure, "GET /v/{village}/processes/{tracking}"),
		pub(svcDisclosure, "GET /v/{village}/postings"),
		pub(svcDisclosure, "GET /v/{village}/powers"),
		pub(svcDisclosure, "GET /v/{village}/powers/{item}"),
		pub(svcDisclosure, "GET /v/{village}/qr.png"),
		pub(svcDisclosure, "GET /v/{village}/qr.svg"),
		pub(svcDisclosure, "GET /v/{village}/{$}"),
		pub(svcDisclosure, "GET /v/{village}/{rest...}"),
		{service: svcDisclosure, pattern: "POST /v1/villages/{village}/ledger", path: "/v1/villages/{village}/ledger", allow: finance,
			body: map[string]any{"kind": "spending", "category": "public-welfare-expenses", "amountFen": 100, "date": today, "description": "修路"}},
		{service: svcDisclosure, pattern: "POST /v1/ledger/{id}/reverse", path: "/v1/ledger/<entry>/reverse", allow: finance,
			body: map[string]string{"reason": "录入错误"}},
		{service: svcDisclosure, pattern: "POST /v1/villages/{village}/subsidies", path: "/v1/villages/{village}/subsidies", allow: finance,
			body: map[string]any{"programme": "耕地地力保护补贴", "householdName": "李四", "idNumber": idNumber("33028319850505123"), "amountFen": 100, "paidOn": today}},
		{service: svcDisclosure, pattern: "POST /v1/subsidies/{id}/reverse", path: "/v1/subsidies/<payment>/reverse", allow: finance,
			body: map[string]string{"reason": "录入错误"}},
		{service: svcDisclosure, pattern: "POST /v1/villages/{village}/subsidies/lookup-code", path: "/v1/villages/{village}/subsidies/lookup-code",
			allow: finance, body: map[string]string{"idNumber": idNumber("33028319850505123")}},

		// complaint
		pub(svcComplaint, "GET /openapi.yaml"),
		pub(svcComplaint, "POST /v1/public/villages/{village}/complaints"),
		pub(svcComplaint, "GET /v1/public/complaints/{code}"),
		pub(svcComplaint, "POST /v1/public/complaints/{code}/feedback"),
		pub(svcComplaint, "GET /r/{village}"),
		pub(svcComplaint, "POST /r/{village}"),
		pub(svcComplaint, "GET /r/track"),
		pub(svcComplaint, "GET /r/track/{code}"),
		pub(svcComplaint, "POST /r/track/{code}"),
		pub(svcComplaint, "GET /open311/v2/services.json"),
		pub(svcComplaint, "GET /open311/v2/services/{file}"),
		pub(svcComplaint, "POST /open311/v2/requests.json"),
		pub(svcComplaint, "GET /open311/v2/requests.json"),
		pub(svcComplaint, "GET /open311/v2/requests/{file}"),
		{service: svcComplaint, pattern: "GET /v1/villages/{village}/complaints", path: "/v1/villages/{village}/complaints", allow: readers},
		{service: svcComplaint, pattern: "GET /v1/complaints/{id}", path: "/v1/complaints/<complaint.read>", allow: readers},
		{service: svcComplaint, pattern: "POST /v1/complaints/{id}/actions", path: "/v1/complaints/<complaint.actions>/actions",
			body: map[string]string{"action": complaint.ActionAccept}, allow: []identity.Role{identity.RoleTownDiscipline, identity.RoleLiaisonOfficer}},
		{service: svcComplaint, pattern: "POST /v1/complaints/{id}/notes", path: "/v1/complaints/<complaint.notes>/notes",
			body: map[string]any{"body": "已约谈村会计"}, allow: []identity.Role{identity.RoleTownDiscipline, identity.RoleLiaisonOfficer, identity.RoleDistrictDiscipline}},
		{service: svcComplaint, pattern: "GET /v1/complaints/{id}/attachments/{n}", path: "/v1/complaints/<complaint.read>/attachments/1", allow: readers},
		{service: svcComplaint, pattern: "GET /v1/statistics", path: "/v1/statistics", allow: readers},

		// inspection
		pub(svcInspection, "GET /openapi.yaml"),
		{service: svcInspection, pattern: "GET /v1/villages/{village}/rating", path: "/v1/villages/{village}/rating",
			allow: roles(villageRoles, discipline, districtAll)},
		{service: svcInspection, pattern: "GET /v1/villages/{village}/grade-changes", path: "/v1/villages/{village}/grade-changes",
			allow: roles(villageRoles, discipline, districtAll)},
		{service: svcInspection, pattern: "GET /v1/notices", path: "/v1/notices", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/notices/{number}", path: "/v1/notices/<notice>", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/sign", path: "/v1/notices/<notice.draft>/sign", allow: discipline},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/dismiss", path: "/v1/notices/<notice.draft>/dismiss",
			body: inspection.Review{Reason: "复核后撤销"}, allow: discipline},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/files", path: "/v1/notices/<notice.id>/files", body: pngPhoto, allow: answerers},
		{service: svcInspection, pattern: "GET /v1/notices/{id}/files/{file}", path: "/v1/notices/<notice.id>/files/<notice.file>",
			allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/answer", path: "/v1/notices/<notice.id>/answer", body: villageAnswer, allow: answerers},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/accept", path: "/v1/notices/<notice.id>/accept", allow: discipline},
		{service: svcInspection, pattern: "POST /v1/notices/{id}/return", path: "/v1/notices/<notice.id>/return",
			body: inspection.Review{Reason: "材料不全"}, allow: discipline},
		{service: svcInspection, pattern: "GET /v1/notices/{number}/html", path: "/v1/notices/<notice>/html", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/notices/{number}/pdf", path: "/v1/notices/<notice>/pdf", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/district/ratings", path: "/v1/district/ratings", allow: roles(discipline, districtAll)},
		{service: svcInspection, pattern: "GET /v1/district/overview", path: "/v1/district/overview", allow: roles(discipline, districtAll)},
		{service: svcInspection, pattern: "GET /v1/district/overview/html", path: "/v1/district/overview/html", allow: roles(discipline, districtAll)},
		{service: svcInspection, pattern: "PUT /v1/villages/{village}", path: "/v1/villages/{village}", body: map[string]string{"name": "岩头村"}, allow: discipline},
		{service: svcInspection, pattern: "POST /v1/tours", path: "/v1/tours", body: newTour, allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/tours", path: "/v1/tours", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/tours/coverage", path: "/v1/tours/coverage", allow: roles(inspectors, []identity.Role{identity.RoleDistrictAdmin})},
		{service: svcInspection, pattern: "GET /v1/tours/{id}", path: "/v1/tours/<tour>", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/tours/{id}/visits", path: "/v1/tours/<tour>/visits",
			body: map[string]string{"village": "{village}", "date": today}, allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/tours/{id}/findings", path: "/v1/tours/<tour>/findings", body: newFinding, allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/findings", path: "/v1/findings", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/findings/{id}", path: "/v1/findings/<finding>", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/rectifications", path: "/v1/rectifications", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/rectifications/{id}", path: "/v1/rectifications/<task>", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "POST /v1/rectifications/{id}/{action}", path: "/v1/rectifications/<task>/submit",
			body: inspection.TaskAction{Note: "已整改", Evidence: []inspection.RectificationEvidence{{Text: "公开栏已更新"}}}, allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/order-situations", path: "/v1/order-situations", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/orders", path: "/v1/orders", body: newOrder, allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/orders", path: "/v1/orders", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "GET /v1/orders/{number}", path: "/v1/orders/<order>", allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "POST /v1/orders/{number}/{action}", path: "/v1/orders/<order>/respond",
			body: inspection.OrderAction{Response: "已整改", Evidence: villageAnswer.Evidence}, allow: roles(inspectors, answerers)},
		{service: svcInspection, pattern: "POST /v1/orders/{number}/files", path: "/v1/orders/<order>/files", body: pngPhoto, allow: answerers},
		{service: svcInspection, pattern: "GET /v1/orders/{number}/files/{file}", path: "/v1/orders/<order>/files/<order.file>",
			allow: roles(villageRoles, inspectors)},
		{service: svcInspection, pattern: "POST /v1/interviews", path: "/v1/interviews", body: newInterview, allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/interviews", path: "/v1/interviews", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/interviews/{id}", path: "/v1/interviews/<interview>", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/integrity-files", path: "/v1/integrity-files",
			body: inspection.CreateFileRequest{Village: "{village}", CadreName: "李建国", CadrePost: "村委会主任"}, allow: discipline},
		{service: svcInspection, pattern: "GET /v1/integrity-files", path: "/v1/integrity-files", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/integrity-files/{id}", path: "/v1/integrity-files/<file>", allow: inspectors},
		{service: svcInspection, pattern: "PUT /v1/integrity-files/{id}/sections/{section}", path: "/v1/integrity-files/<file>/sections/sanctions",
			body: sanctions, allow: discipline},
		{service: svcInspection, pattern: "GET /v1/integrity-files/{id}/sections/{section}/history", path: "/v1/integrity-files/<file>/sections/sanctions/history", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/integrity-files/{id}/relatives", path: "/v1/integrity-files/<file>/relatives",
			body: inspection.AddRelativeRequest{Name: "王小红", Relation: "配偶", IDNumber: idNumber("33028319650101124")}, allow: discipline},
		{service: svcInspection, pattern: "DELETE /v1/integrity-files/{id}/relatives/{relative}", path: "/v1/integrity-files/<file>/relatives/<relative>", allow: discipline},
		{service: svcInspection, pattern: "GET /v1/integrity-audit", path: "/v1/integrity-audit", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/audit/verify", path: "/v1/audit/verify", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/negative-list", path: "/v1/negative-list", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/integrity-files/{id}/selection-checks", path: "/v1/integrity-files/<file>/selection-checks", body: anyAnswers, allow: discipline},
		{service: svcInspection, pattern: "GET /v1/integrity-files/{id}/selection-checks", path: "/v1/integrity-files/<file>/selection-checks", allow: inspectors},
		{service: svcInspection, pattern: "POST /v1/deceased-persons", path: "/v1/deceased-persons",
			body: map[string]string{"idNumber": idNumber("33028319300303003"), "name": "赵六", "diedOn": "2026-02-01"}, allow: discipline},
		{service: svcInspection, pattern: "POST /v1/deceased-persons/import", path: "/v1/deceased-persons/import", body: deceasedCSV, allow: discipline},
		{service: svcInspection, pattern: "GET /v1/deceased-persons", path: "/v1/deceased-persons", allow: inspectors},
		{service: svcInspection, pattern: "GET /v1/crosscheck-flags", path: "/v1/crosscheck-flags", allow: inspectors},
		// The inbox: everyone with an office in town X or the district has
		// one (their own messages); reading a message of nobody's is a 404.
		{service: svcInspection, pattern: "GET /v1/inbox", path: "/v1/inbox", allow: roles(villageRoles, identity.TownRoles, identity.CadreRoles, districtAll), personal: true},
		{service: svcInspection, pattern: "POST /v1/inbox/{id}/read", path: "/v1/inbox/999999999/read"},
		{service: svcInspection, pattern: "POST /v1/inbox/read-all", path: "/v1/inbox/read-all", allow: roles(villageRoles, identity.TownRoles, identity.CadreRoles, districtAll), personal: true},
	}
	for _, s := range serviceNames {
		for _, p := range operational {
			rows = append(rows, pub(s, p))
		}
	}
	return rows
}

// request is one cell of the matrix.
type request struct {
	row     row
	who     principal
	method  string
	path    string
	body    any
	through bool   // the row lets who through
	what    string // for messages
}

var fixtureRef = regexp.MustCompile(`<([a-z.]+)>`)

// fill makes a row's path (or a body's village) concrete.
func (w *world) fill(t testing.TB, s, village string) string {
	s = strings.ReplaceAll(s, "{village}", village)
	return fixtureRef.ReplaceAllStringFunc(s, func(m string) string { return w.get(t, m[1:len(m)-1]) })
}

// fillBody replaces "{village}" in a JSON body (by round trip).
func fillBody(body any, village string) any {
	if body == nil {
		return nil
	}
	if _, ok := body.(rawBody); ok {
		return body
	}
	raw, _ := json.Marshal(body)
	return json.RawMessage(strings.ReplaceAll(string(raw), "{village}", village))
}

func TestIsolationMatrix(t *testing.T) {
	start := time.Now()
	w := newWorld(t)
	rows := matrix()

	// The table and the route tables agree, both ways.
	byKey := map[string]row{}
	for _, r := range rows {
		k := r.service + " " + r.pattern
		if _, dup := byKey[k]; dup {
			t.Errorf("two rows for %s", k)
		}
		byKey[k] = r
	}
	served := map[string]bool{}
	routes := 0
	for _, name := range serviceNames {
		for _, rt := range w.services[name].routes {
			k := name + " " + rt.Pattern
			served[k] = true
			routes++
			r, ok := byKey[k]
			switch {
			case !ok:
				t.Errorf("%s: route %q has no row in the isolation matrix: add one saying who of the town may use it", name, rt.Pattern)
			case r.public != rt.Public:
				t.Errorf("%s: route %q is public=%v, its row says public=%v", name, rt.Pattern, rt.Public, r.public)
			}
		}
	}
	for _, r := range rows {
		if !served[r.service+" "+r.pattern] {
			t.Errorf("%s: the row for %q names no registered route: remove or correct it", r.service, r.pattern)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	w.fixtures(t)
	t.Logf("set-up (4 services, %d users, fixtures): %s", len(w.principals), time.Since(start).Round(time.Millisecond))

	// The cells: every authenticated route x every principal, without
	// credentials, and X's writes naming town Y's village.
	var refused, through, narrowed []request
	for _, r := range rows {
		if r.public {
			continue
		}
		method, _, _ := strings.Cut(r.pattern, " ")
		path := w.fill(t, r.path, v1)
		probe, _ := http.NewRequest(method, "http://x"+path, nil)
		if _, p := w.services[r.service].mux.Handler(probe); p != r.pattern {
			t.Fatalf("%s: the row's path %s is served by %q, not its route %q", r.service, path, p, r.pattern)
		}
		refused = append(refused, request{row: r, method: method, path: path, body: fillBody(r.bodyOf(identity.RoleTownDiscipline), v1), what: "no credentials"})
		for _, p := range w.principals {
			q := request{row: r, who: p, method: method, path: path, body: fillBody(r.bodyOf(p.role), v1), what: p.String()}
			if p.town != w.townY && slices.Contains(r.allow, p.role) && p.role.IsLiaisonCadre() && !p.reaches(v1) && r.narrows {
				narrowed = append(narrowed, q)
				continue
			}
			// A 片组 or an assignment that leaves out v1 (town X's
			// village) is refused like another town's staff.
			if p.town != w.townY && slices.Contains(r.allow, p.role) && (p.reaches(v1) || (r.personal && p.role.IsLiaisonCadre())) {
				q.through = true
				through = append(through, q)
				if method != "GET" && (strings.Contains(r.pattern, "{village}") || strings.Contains(fmt.Sprint(r.body), "{village}")) {
					// The same write naming town Y's village.
					f := q
					f.through, f.path, f.body = false, w.fill(t, r.path, w1), fillBody(r.bodyOf(p.role), w1)
					f.what = p.String() + " naming town Y's village " + w1
					refused = append(refused, f)
				}
				continue
			}
			refused = append(refused, q)
		}
	}

	before := w.snapshot(t)
	t0 := time.Now()
	got := w.run(t, refused)
	for i, q := range refused {
		res := got[i]
		ok := res.status == http.StatusForbidden || res.status == http.StatusNotFound
		switch {
		case q.who.token == "":
			ok = res.status == http.StatusUnauthorized
		case strings.Contains(q.what, "naming town Y's village"):
			ok = ok || res.status == http.StatusUnprocessableEntity
		}
		if !ok {
			t.Errorf("%s %s as %s: %d, want a refusal (403/404): %.300s", q.row.service, q.row.pattern, q.what, res.status, res.raw)
		}
	}
	after := w.snapshot(t)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("refused requests changed %s", k)
		}
	}
	t.Logf("%d refused requests in %s", len(refused), time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	got = w.run(t, through)
	for i, q := range through {
		res := got[i]
		if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden || res.status == http.StatusNotFound || res.status >= 500 {
			t.Errorf("%s %s as %s: %d, but the row lets %s through: %.300s", q.row.service, q.row.pattern, q.what, res.status, q.who.role, res.raw)
		}
	}
	t.Logf("%d allowed requests in %s", len(through), time.Since(t0).Round(time.Millisecond))

	// Lists that narrow to the caller's villages: 200, nothing of v1.
	got = w.run(t, narrowed)
	for i, q := range narrowed {
		if res := got[i]; res.status != http.StatusOK || strings.Contains(res.raw, v1) {
			t.Errorf("%s %s as %s: %d, want 200 without village %s: %.300s", q.row.service, q.row.pattern, q.what, res.status, v1, res.raw)
		}
	}

	auth := 0
	for _, r := range rows {
		if !r.public {
			auth++
		}
	}
	t.Logf("matrix: %d routes (%d authenticated) x %d roles x 2 towns (%d principals with the district's): %d requests, %s in all",
		routes, auth, len(identity.AllRoles), len(w.principals), len(refused)+len(through)+len(narrowed), time.Since(start).Round(time.Millisecond))
}

// run sends the requests, a few at a time, and returns their responses in
// order.
func (w *world) run(t *testing.T, qs []request) []response {
	t.Helper()
	out := make([]response, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, q := range qs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = w.send(q.row.service, q.method, q.path, q.who.token, q.body)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
