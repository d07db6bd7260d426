package villagefile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/wuxiao/wuxiao/api/divcode"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The Village CRD's patterns (api/v1alpha1/village_types.go); checking them
// here lets the import report every row at once instead of the API
// server's first refusal.
var (
	phonePattern = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	emailPattern = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
	idPattern    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// Limits of the Village CRD.
const (
	maxDisplayName = 64
	maxOfficials   = 40
	maxEmail       = 254
	maxID          = 63
)

// Town is what the rows are checked against.
type Town struct {
	// Name of the Town; its villages live in namespace town-<name>.
	Name string
	// Code is the town's 12-digit code. Empty when it is unknown (a town
	// admin may not read the cluster-scoped Town): the operator still
	// refuses a wrong prefix after the import (reason CodeMismatch).
	Code string
}

// Check checks the rows against the Village CRD's rules and the operator's
// (town prefix, unique codes, a liaison officer in every village, one
// account per contact), and against the villages already in the town
// (existing, from the cluster): a code held by another Village, a Village
// whose code would change, an e-mail another village's official signs in
// with. It also resolves each row's object name and its officials' ids
// (an official already in the cluster keeps their id, so their identity),
// and returns every problem found, in row order.
func Check(rows []Row, town Town, existing []wuxiaov1.Village) []Problem {
	var problems []Problem
	add := func(row int, col, format string, args ...any) {
		problems = append(problems, Problem{Row: row, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	byCode := map[string]*wuxiaov1.Village{}
	byName := map[string]*wuxiaov1.Village{}
	emailOwner := map[string]string{} // e-mail → village code, of the cluster
	for i := range existing {
		v := &existing[i]
		if !v.DeletionTimestamp.IsZero() {
			continue
		}
		byName[v.Name] = v
		// The first Village to claim a code keeps it (the operator's rule).
		if o, ok := byCode[v.Spec.Code]; !ok || v.CreationTimestamp.Before(&o.CreationTimestamp) {
			byCode[v.Spec.Code] = v
		}
		for _, o := range v.Spec.Officials {
			if o.Email != "" {
				emailOwner[o.Email] = v.Spec.Code
			}
		}
	}
	prefix := ""
	if len(town.Code) == 12 {
		prefix = town.Code[:9]
	}
	codeLine := map[string]int{}
	nameLine := map[string]int{}
	emailLine := map[string]int{}
	for i := range rows {
		r := &rows[i]
		// Village.
		switch n := runes(r.DisplayName); {
		case n == 0:
			add(r.Line, "村名", "村名不能为空")
		case n > maxDisplayName:
			add(r.Line, "村名", "村名最多 %d 个字，现在有 %d 个", maxDisplayName, n)
		}
		codeOK := false
		switch {
		case r.Code == "":
			add(r.Line, "村代码", "村代码不能为空：填 12 位行政区划代码，例如 %s", example(prefix))
		case !divcode.Valid(r.Code):
			add(r.Line, "村代码", "「%s」不是 12 位数字的行政区划代码，例如 %s", r.Code, example(prefix))
		case strings.HasSuffix(r.Code, "000"):
			add(r.Line, "村代码", "%s 以 000 结尾，那是镇（街道）的代码；村代码的后 3 位是本村的编号", r.Code)
		case prefix != "" && r.Code[:9] != prefix:
			add(r.Line, "村代码", "%s 不属于本镇：%s 的村代码前 9 位应为 %s（镇代码 %s）", r.Code, town.Name, prefix, town.Code)
		default:
			codeOK = true
		}
		if codeOK {
			if first, dup := codeLine[r.Code]; dup {
				add(r.Line, "村代码", "%s 与第 %d 行重复：一个村代码只能有一行", r.Code, first)
				codeOK = false
			} else {
				codeLine[r.Code] = r.Line
			}
		}
		// The Village object's name.
		var current *wuxiaov1.Village
		if r.Name != "" {
			if errs := validation.IsDNS1123Subdomain(r.Name); len(errs) > 0 {
				add(r.Line, "对象名", "「%s」不能用作对象名：只能有小写字母、数字、- 和 .，以字母或数字开头和结尾", r.Name)
			} else if first, dup := nameLine[r.Name]; dup {
				add(r.Line, "对象名", "%s 与第 %d 行重复", r.Name, first)
			} else {
				nameLine[r.Name] = r.Line
				current = byName[r.Name]
				if current != nil && codeOK && current.Spec.Code != r.Code {
					add(r.Line, "村代码", "集群中的村 %s（%s）的代码是 %s，村代码不能修改：如确需更换，请先撤并（删除）该村再导入", r.Name, current.Spec.DisplayName, current.Spec.Code)
				}
			}
		}
		if codeOK {
			if holder := byCode[r.Code]; holder != nil {
				switch {
				case r.Name == "":
					r.Name, current = holder.Name, holder
				case holder.Name != r.Name:
					add(r.Line, "村代码", "%s 已被集群中的村 %s（%s）使用", r.Code, holder.Name, holder.Spec.DisplayName)
				}
			}
			if r.Name == "" {
				r.Name = "v" + r.Code
				current = byName[r.Name]
			}
		}
		// Officials.
		problems = append(problems, checkPeople(r, current, emailOwner, emailLine)...)
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Row < problems[j].Row })
	return problems
}

func example(prefix string) string {
	if prefix == "" {
		return "330213100201"
	}
	return prefix + "201"
}

// checkPeople checks one row's officials and gives them ids.
func checkPeople(r *Row, current *wuxiaov1.Village, emailOwner map[string]string, emailLine map[string]int) []Problem {
	var problems []Problem
	add := func(col, format string, args ...any) {
		problems = append(problems, Problem{Row: r.Line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	count := map[wuxiaov1.OfficialRole]int{}
	contactOf := map[string]Person{}
	r.Officials = r.Officials[:0]
	var existing []wuxiaov1.Official
	if current != nil {
		existing = current.Spec.Officials
	}
	usedIDs := map[string]bool{}
	for _, p := range r.People {
		col := RoleLabel(p.Role)
		count[p.Role]++
		ok := true
		switch n := runes(p.Name); {
		case n == 0:
			add(col, "%s 前面缺少姓名，应写成「姓名 手机号」，例如「张伟 13800000001」", contact(p))
			ok = false
		case n > maxDisplayName:
			add(col, "姓名「%s」太长（最多 %d 个字）", p.Name, maxDisplayName)
			ok = false
		}
		if p.Phone == "" && p.Email == "" {
			add(col, "%s 没有手机号或电子邮箱，无法把账号交给本人：写成「%s 13800000001」", p.Name, p.Name)
			ok = false
		}
		if p.Phone != "" && !phonePattern.MatchString(p.Phone) {
			add(col, "%s 的手机号「%s」不对：应为 11 位大陆手机号，例如 13800000000", p.Name, p.Phone)
			ok = false
		}
		if p.Email != "" && (!emailPattern.MatchString(p.Email) || len(p.Email) > maxEmail) {
			add(col, "%s 的电子邮箱「%s」不对：应如 name@example.org", p.Name, p.Email)
			ok = false
		}
		for _, c := range []string{p.Phone, p.Email} {
			if c == "" {
				continue
			}
			if prev, dup := contactOf[c]; dup {
				add(col, "%s 的联系方式 %s 已用于本村的%s %s：每位干部只有一个职务和一个账号，兼任的请为第二个职务另填一个联系方式", p.Name, c, RoleLabel(prev.Role), prev.Name)
				ok = false
			} else {
				contactOf[c] = p
			}
		}
		if p.Email != "" {
			// The e-mail is the sign-in name, unique in the district's Kratos.
			if first, dup := emailLine[p.Email]; dup && first != r.Line {
				add(col, "电子邮箱 %s 已用于第 %d 行：电子邮箱是登录名，只能给一位干部", p.Email, first)
				ok = false
			} else if owner, taken := emailOwner[p.Email]; taken && owner != r.Code {
				add(col, "电子邮箱 %s 已是村 %s 一位干部的登录名，只能给一位干部", p.Email, owner)
				ok = false
			} else {
				emailLine[p.Email] = r.Line
			}
		}
		if !ok {
			continue
		}
		id := officialID(p, existing, usedIDs)
		usedIDs[id] = true
		r.Officials = append(r.Officials, wuxiaov1.Official{ID: id, Name: p.Name, Role: p.Role, Phone: p.Phone, Email: p.Email})
	}
	for _, c := range RoleColumns {
		if c.Max > 0 && count[c.Role] > c.Max {
			add(c.Header, "填了 %d 人，每个村最多 %d 位%s", count[c.Role], c.Max, c.Header)
		}
	}
	if count[wuxiaov1.RoleLiaisonOfficer] == 0 {
		add(RoleLabel(wuxiaov1.RoleLiaisonOfficer), "缺少监察联络员：每个村都要有一位，群众的举报转给他")
	}
	if n := len(r.People); n > maxOfficials {
		add("", "一共 %d 位干部，每个村最多 %d 位", n, maxOfficials)
	}
	return problems
}

func contact(p Person) string {
	if p.Phone != "" {
		return p.Phone
	}
	return p.Email
}

// officialID keeps the id of the official already in the cluster with the
// same phone, else e-mail, else name and role; a new official's id comes
// from their contact, so that a new person in a role gets a new identity
// rather than their predecessor's.
func officialID(p Person, existing []wuxiaov1.Official, used map[string]bool) string {
	for _, match := range []func(o wuxiaov1.Official) bool{
		func(o wuxiaov1.Official) bool { return p.Phone != "" && o.Phone == p.Phone },
		func(o wuxiaov1.Official) bool { return p.Email != "" && o.Email == p.Email },
		func(o wuxiaov1.Official) bool { return o.Name == p.Name && o.Role == p.Role },
	} {
		for _, o := range existing {
			if match(o) && !used[o.ID] {
				return o.ID
			}
		}
	}
	var id string
	if p.Phone != "" {
		id = "p" + p.Phone
	} else {
		sum := sha256.Sum256([]byte(p.Email))
		id = "e-" + hex.EncodeToString(sum[:5])
	}
	taken := func(id string) bool {
		if used[id] {
			return true
		}
		for _, o := range existing {
			if o.ID == id {
				return true
			}
		}
		return false
	}
	base := id
	for n := 2; taken(id); n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	if len(id) > maxID || !idPattern.MatchString(id) {
		panic("villagefile: generated official id " + id + " is invalid")
	}
	return id
}

// FieldManager is the server-side apply field manager of imports: the
// fields a file sets are the import's, and a later import of a changed
// file changes or removes exactly those.
const FieldManager = "kubectl-wuxiao"

// Object is the Village a checked row describes, in the town's namespace,
// as a server-side apply configuration: only the fields the file sets, so
// that what others set (thresholds, portal, labels) is left alone.
func (r *Row) Object(namespace string) *unstructured.Unstructured {
	officials := make([]any, 0, len(r.Officials))
	for _, o := range r.Officials {
		m := map[string]any{"id": o.ID, "name": o.Name, "role": string(o.Role)}
		if o.Phone != "" {
			m["phone"] = o.Phone
		}
		if o.Email != "" {
			m["email"] = o.Email
		}
		officials = append(officials, m)
	}
	spec := map[string]any{"code": r.Code, "kind": string(r.Kind), "displayName": r.DisplayName}
	if len(officials) > 0 {
		spec["officials"] = officials
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": wuxiaov1.GroupVersion.String(),
		"kind":       "Village",
		"metadata":   map[string]any{"name": r.Name, "namespace": namespace},
		"spec":       spec,
	}}
}

// FromVillage is the row of an existing Village, as export writes it.
func FromVillage(v *wuxiaov1.Village) Row {
	r := Row{Name: v.Name, DisplayName: v.Spec.DisplayName, Code: v.Spec.Code, Kind: v.Spec.Kind}
	for _, c := range RoleColumns {
		for _, o := range v.Spec.Officials {
			if o.Role == c.Role {
				r.People = append(r.People, Person{Name: o.Name, Phone: o.Phone, Email: o.Email, Role: o.Role})
				r.Officials = append(r.Officials, o)
			}
		}
	}
	return r
}
