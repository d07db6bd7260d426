package domainerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

var errNotFound = errors.New("not found")

func TestProblemsWrite(t *testing.T) {
	p := Problems{Namespace: "workflow/", NotFound: errNotFound, NotFoundDetail: "no such process"}
	var two FieldErrors
	two.Add("amountFen", "must be positive, not %d", -1)
	two = append(two, &FieldError{Field: "village", Code: "village_invalid", Message: "村代码应为12位数字"})
	for _, tc := range []struct {
		name   string
		err    error
		status int
		typ    string
		detail string
		fields []httpapi.FieldError
	}{
		{"refusal", Refuse(422, "not-on-the-list", "Not on the power list", "item %q", "x"),
			422, httpapi.ProblemBase + "workflow/not-on-the-list", `item "x"`, nil},
		{"wrapped refusal", fmt.Errorf("starting: %w", Refuse(409, "conflict", "Changed", "again")),
			409, httpapi.ProblemBase + "workflow/conflict", "again", nil},
		{"field errors", two, 422, httpapi.TypeValidation, "The request has invalid fields.",
			[]httpapi.FieldError{{Field: "amountFen", Detail: "must be positive, not -1"}, {Field: "village", Detail: "村代码应为12位数字"}}},
		{"one field error", fmt.Errorf("x: %w", &FieldError{Field: "pow_token", Code: "challenge_expired", Message: "验证已过期"}),
			422, httpapi.TypeValidation, "pow_token: 验证已过期", []httpapi.FieldError{{Field: "pow_token", Detail: "验证已过期"}}},
		{"not found", fmt.Errorf("loading: %w", errNotFound), 404, httpapi.TypeNotFound, "no such process", nil},
		{"a problem", httpapi.Conflict("busy"), 409, httpapi.TypeConflict, "busy", nil},
		{"anything else", errors.New("disk on fire"), 500, httpapi.TypeInternal, httpapi.Internal().Detail, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			p.Write(rec, httptest.NewRequest(http.MethodGet, "/v1/x", nil), tc.err)
			var got struct {
				Type, Detail string
				Status       int
				Errors       []httpapi.FieldError
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.status || got.Status != tc.status || got.Type != tc.typ || got.Detail != tc.detail {
				t.Errorf("got %d %+v, want %d %s %q", rec.Code, got, tc.status, tc.typ, tc.detail)
			}
			if fmt.Sprint(got.Errors) != fmt.Sprint(tc.fields) {
				t.Errorf("errors %v, want %v", got.Errors, tc.fields)
			}
		})
	}
}

func TestNoNamespaceAndNoNotFound(t *testing.T) {
	var p Problems
	if got := p.Problem(Refuse(403, "forbidden", "Not allowed", "no")); got.Type != httpapi.TypeForbidden {
		t.Errorf("type %s", got.Type)
	}
	if got := p.Problem(errNotFound); got != nil {
		t.Errorf("without NotFound, %v is a problem: %v", errNotFound, got)
	}
}

func TestFieldErrors(t *testing.T) {
	var fe FieldErrors
	if fe.Err() != nil {
		t.Error("no problem is not nil")
	}
	fe.Add("reverses", "no entry %d", 7)
	fe = append(fe, &FieldError{Field: "pow_nonce", Code: "insufficient_work", Message: "请重试"})
	if !fe.Has("reverses") || fe.Has("amountFen") {
		t.Errorf("Has: %v", fe)
	}
	if got, want := fe.Err().Error(), "reverses: no entry 7; pow_nonce: insufficient_work (请重试)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	sentinel := &FieldError{Field: "pow_token", Code: "challenge_reused", Message: "已使用"}
	if !errors.Is(fmt.Errorf("verify: %w", sentinel), sentinel) {
		t.Error("a *FieldError is not its own sentinel")
	}
}
