package complaint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// Open311 GeoReport v2 (JSON only) under /open311/v2: the five categories
// are the services, a complaint is a service request whose
// service_request_id is its tracking code and whose token is the follow-up
// secret. The village is attribute[village] or address_id; jurisdiction_id,
// when given, must be this town.

// Open311Error is one entry of Open311's error list.
type Open311Error struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// Open311Service is one entry of services.json.
type Open311Service struct {
	ServiceCode string `json:"service_code"`
	ServiceName string `json:"service_name"`
	Description string `json:"description"`
	Metadata    bool   `json:"metadata"`
	Type        string `json:"type"`
	Keywords    string `json:"keywords"`
	Group       string `json:"group"`
}

// Open311Attribute is an attribute of a service definition.
type Open311Attribute struct {
	Variable            bool   `json:"variable"`
	Code                string `json:"code"`
	Datatype            string `json:"datatype"`
	Required            bool   `json:"required"`
	DatatypeDescription string `json:"datatype_description"`
	Order               int    `json:"order"`
	Description         string `json:"description"`
}

// Open311Definition is services/{code}.json.
type Open311Definition struct {
	ServiceCode string             `json:"service_code"`
	Attributes  []Open311Attribute `json:"attributes"`
}

// Open311Created is the answer to POST requests.json.
type Open311Created struct {
	ServiceRequestID string `json:"service_request_id"`
	Token            string `json:"token"`
	ServiceNotice    string `json:"service_notice"`
}

// Open311Request is a service request as requests.json shows it: the
// public view only.
type Open311Request struct {
	ServiceRequestID  string     `json:"service_request_id"`
	Status            string     `json:"status"`
	StatusNotes       string     `json:"status_notes"`
	ServiceName       string     `json:"service_name"`
	ServiceCode       string     `json:"service_code"`
	AddressID         string     `json:"address_id"`
	RequestedDatetime time.Time  `json:"requested_datetime"`
	UpdatedDatetime   time.Time  `json:"updated_datetime"`
	ExpectedDatetime  *time.Time `json:"expected_datetime,omitempty"`
}

func (a *API) open311Routes(srv *httpapi.Server) {
	srv.Handle("GET /open311/v2/services.json", httpapi.Public(http.HandlerFunc(a.o311Services)))
	srv.Handle("GET /open311/v2/services/{file}", httpapi.Public(http.HandlerFunc(a.o311Definition)))
	srv.Handle("POST /open311/v2/requests.json", httpapi.Public(a.limit(http.HandlerFunc(a.o311Create))))
	srv.Handle("GET /open311/v2/requests.json", httpapi.Public(http.HandlerFunc(a.o311Query)))
	srv.Handle("GET /open311/v2/requests/{file}", httpapi.Public(http.HandlerFunc(a.o311Get)))
}

func o311Write(w http.ResponseWriter, status int, v any) {
	_ = httpapi.WriteJSON(w, status, v)
}

func o311Fail(w http.ResponseWriter, status int, format string, args ...any) {
	o311Write(w, status, []Open311Error{{Code: status, Description: fmt.Sprintf(format, args...)}})
}

// o311Jurisdiction refuses a jurisdiction_id other than this town.
func (a *API) o311Jurisdiction(w http.ResponseWriter, j string) bool {
	if j != "" && j != a.Service.Town {
		o311Fail(w, http.StatusNotFound, "jurisdiction_id %q is not served here; this endpoint serves %q", j, a.Service.Town)
		return false
	}
	return true
}

// jsonFile strips the .json of a {file} path segment.
func jsonFile(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok || name == "" {
		o311Fail(w, http.StatusNotFound, "only the JSON format is served")
		return "", false
	}
	return name, true
}

func (a *API) o311Services(w http.ResponseWriter, r *http.Request) {
	if !a.o311Jurisdiction(w, r.URL.Query().Get("jurisdiction_id")) {
		return
	}
	out := make([]Open311Service, len(Categories))
	for i, c := range Categories {
		out[i] = Open311Service{ServiceCode: string(c), ServiceName: c.Label(), Description: c.Label() + "问题举报",
			Metadata: true, Type: "realtime", Keywords: string(c), Group: "码上举报"}
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	o311Write(w, http.StatusOK, out)
}

func (a *API) o311Definition(w http.ResponseWriter, r *http.Request) {
	if !a.o311Jurisdiction(w, r.URL.Query().Get("jurisdiction_id")) {
		return
	}
	code, ok := jsonFile(w, r)
	if !ok {
		return
	}
	if !Category(code).Valid() {
		o311Fail(w, http.StatusNotFound, "no such service: %q", code)
		return
	}
	o311Write(w, http.StatusOK, Open311Definition{ServiceCode: code, Attributes: []Open311Attribute{{
		Variable: true, Code: "village", Datatype: "string", Required: true,
		DatatypeDescription: "12-digit village code (may be sent as address_id instead)", Order: 1, Description: "所在村"}}})
}

// o311Form reads a POST body, form-encoded or JSON, as form values.
func o311Form(r *http.Request) (url.Values, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		return r.Form, nil
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errors.New("the body is not a JSON object")
	}
	v := url.Values{}
	// In name order, so that a value spelled twice ("attribute[village]"
	// and "attribute": {"village": …}) does not depend on a map's
	// iteration: the flat member sorts last and wins.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch x := m[k].(type) {
		case string:
			v.Set(k, x)
		case float64:
			v.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		case map[string]any: // "attribute": {"village": "…"}
			for _, ak := range slices.Sorted(maps.Keys(x)) {
				if s, ok := x[ak].(string); ok {
					v.Set(k+"["+ak+"]", s)
				}
			}
		}
	}
	for k, x := range r.URL.Query() {
		if !v.Has(k) {
			v[k] = x
		}
	}
	return v, nil
}

func (a *API) o311Create(w http.ResponseWriter, r *http.Request) {
	f, err := o311Form(r)
	if err != nil {
		o311Fail(w, http.StatusBadRequest, "unreadable request: %v", err)
		return
	}
	if !a.o311Jurisdiction(w, f.Get("jurisdiction_id")) {
		return
	}
	village := f.Get("attribute[village]")
	if village == "" {
		village = f.Get("address_id")
	}
	in := Intake{Village: village, Category: Category(f.Get("service_code")), Description: f.Get("description")}
	errs := checkIntake(in)
	if len(errs) > 0 {
		list := make([]Open311Error, len(errs))
		for i, e := range errs {
			field := e.Field
			switch field {
			case "village":
				field = "attribute[village]"
			case "category":
				field = "service_code"
			}
			list[i] = Open311Error{Code: http.StatusBadRequest, Description: field + ": " + e.Message}
		}
		a.refused(r, channelOpen311, reasonIntakeLimits)
		o311Write(w, http.StatusBadRequest, list)
		return
	}
	if open, err := a.Service.VillageOpen(r.Context(), village); err != nil || !open {
		if err != nil {
			a.Service.logError(r, "checking the village registry", err)
			o311Fail(w, http.StatusServiceUnavailable, "the village registry cannot be read; try again later")
			return
		}
		a.refused(r, channelOpen311, reasonUnknownVillage)
		o311Write(w, http.StatusNotFound, []Open311Error{{Code: http.StatusNotFound,
			Description: "attribute[village]: " + unknownVillageMessage}})
		return
	}
	if rf := a.admit(r, village); rf != nil {
		a.refused(r, channelOpen311, rf.reason())
		rf.setRetryAfter(w)
		body := map[string]any{"code": rf.status, "description": rf.message}
		if rf.challenge != nil {
			body["challenge"] = rf.challenge
		}
		o311Write(w, rf.status, []map[string]any{body})
		return
	}
	rc, err := a.Service.File(r.Context(), in, nil)
	if err != nil {
		var ce *domainerr.Error
		if errors.As(err, &ce) {
			o311Fail(w, ce.Status, "%s", ce.Detail)
			return
		}
		httpapi.Logger(r.Context()).ErrorContext(r.Context(), "open311 request failed", "error", err.Error())
		o311Fail(w, http.StatusInternalServerError, "the request could not be stored")
		return
	}
	a.Service.metrics.filed(r.Context(), channelOpen311, in.Category)
	w.Header().Set("Cache-Control", "no-store")
	o311Write(w, http.StatusOK, []Open311Created{{ServiceRequestID: rc.TrackingCode, Token: rc.Secret,
		ServiceNotice: "请保存查询码 " + rc.TrackingCode + " 和反馈密钥（token），密钥只显示这一次。"}})
}

func open311Of(pv PublicView) Open311Request {
	status := "open"
	switch pv.Status {
	case StatusResolved, StatusClosed, StatusRejected:
		status = "closed"
	}
	notes := make([]string, len(pv.Notes))
	for i, n := range pv.Notes {
		notes[i] = n.Body
	}
	return Open311Request{ServiceRequestID: pv.TrackingCode, Status: status, StatusNotes: strings.Join(notes, "\n"),
		ServiceName: pv.CategoryLabel, ServiceCode: string(pv.Category), AddressID: pv.Village,
		RequestedDatetime: pv.FiledAt, UpdatedDatetime: pv.UpdatedAt, ExpectedDatetime: pv.DueAt}
}

func (a *API) o311Get(w http.ResponseWriter, r *http.Request) {
	if !a.o311Jurisdiction(w, r.URL.Query().Get("jurisdiction_id")) {
		return
	}
	id, ok := jsonFile(w, r)
	if !ok {
		return
	}
	pv, err := a.Service.Track(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		o311Fail(w, http.StatusNotFound, "no such service request: %q", id)
		return
	}
	if err != nil {
		o311Fail(w, http.StatusInternalServerError, "the request could not be read")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	o311Write(w, http.StatusOK, []Open311Request{open311Of(pv)})
}

// o311Query answers requests.json?service_request_id=a,b; listing without
// ids is not offered (complaints are found by their tracking code only).
func (a *API) o311Query(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !a.o311Jurisdiction(w, q.Get("jurisdiction_id")) {
		return
	}
	raw := q.Get("service_request_id")
	if raw == "" {
		o311Fail(w, http.StatusBadRequest, "service_request_id is required: requests are found by their tracking codes")
		return
	}
	ids := strings.Split(raw, ",")
	if len(ids) > 50 {
		o311Fail(w, http.StatusBadRequest, "at most 50 service_request_id values")
		return
	}
	out := []Open311Request{}
	for _, id := range ids {
		pv, err := a.Service.Track(r.Context(), id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			o311Fail(w, http.StatusInternalServerError, "the requests could not be read")
			return
		}
		out = append(out, open311Of(pv))
	}
	w.Header().Set("Cache-Control", "no-store")
	o311Write(w, http.StatusOK, out)
}
