package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// createOfficial creates an identity through Admin and deletes it when the
// test ends (test identities only: the Admin itself never deletes).
func createOfficial(t *testing.T, admin *Admin, meta Metadata, password string) (id, email string) {
	t.Helper()
	email = testinfra.UniqueName("official-") + "@test.wuxiao.invalid"
	id, err := admin.CreateOfficial(ctx(t), email, "Official "+email, meta, password)
	if err != nil {
		t.Fatalf("CreateOfficial: %v", err)
	}
	k := testinfra.KratosAdmin(t)
	t.Cleanup(func() { _, _ = k.IdentityAPI.DeleteIdentity(ctx(t), id).Execute() })
	return id, email
}

func TestAdminCreateOfficial(t *testing.T) {
	admin := kratosAdmin(t)
	a := New(kratosPublic(t), WithCacheTTL(0))
	tests := []struct {
		name string
		meta Metadata
	}{
		{"village secretary", Metadata{Role: RoleSecretary, Town: townA, Village: villageA}},
		{"town IT", Metadata{Role: RoleTownIT, Town: townB, Village: ""}},
		{"district admin", Metadata{Role: RoleDistrictAdmin, Town: "", Village: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, email := createOfficial(t, admin, tt.meta, "a-long-password-1")
			token := testinfra.KratosLogin(t, email, "a-long-password-1")
			p := &probe{}
			if w := get(t, a.Require(p), cred{bearer: token}); w.Code != http.StatusNoContent {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			want := Principal{IdentityID: id, Email: email, Name: "Official " + email, Role: tt.meta.Role, Town: tt.meta.Town, Village: tt.meta.Village}
			if !reflect.DeepEqual(p.principal, want) {
				t.Fatalf("principal %+v, want %+v", p.principal, want)
			}
			// The same e-mail, in any case, cannot be created twice.
			if _, err := admin.CreateOfficial(ctx(t), strings.ToUpper(email), "Twin", tt.meta, ""); !errors.Is(err, ErrExists) {
				t.Fatalf("duplicate: %v, want ErrExists", err)
			}
		})
	}
}

func TestAdminRejectsInvalidMetadataBeforeKratos(t *testing.T) {
	admin := kratosAdmin(t)
	id, _ := createOfficial(t, admin, Metadata{Role: RoleCashier, Town: townA, Village: villageA}, "")
	tests := []struct {
		name string
		meta Metadata
	}{
		{"unknown role", Metadata{Role: "mayor", Town: townA, Village: ""}},
		{"village role without village", Metadata{Role: RoleSecretary, Town: townA, Village: ""}},
		{"town role without town", Metadata{Role: RoleTownOfficial, Town: "", Village: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := testinfra.UniqueName("bad-") + "@test.wuxiao.invalid"
			if _, err := admin.CreateOfficial(ctx(t), email, "Bad", tt.meta, ""); !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("CreateOfficial: %v, want ErrInvalidMetadata", err)
			}
			if _, err := admin.FindByEmail(ctx(t), email); !errors.Is(err, ErrNotFound) {
				t.Fatalf("an identity was created anyway: %v", err)
			}
			if err := admin.SetMetadata(ctx(t), id, tt.meta); !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("SetMetadata: %v, want ErrInvalidMetadata", err)
			}
			acc, err := admin.Get(ctx(t), id)
			if err != nil || !reflect.DeepEqual(acc.Metadata, Metadata{Role: RoleCashier, Town: townA, Village: villageA}) {
				t.Fatalf("metadata changed: %+v %v", acc, err)
			}
		})
	}
}

func TestAdminFindByEmail(t *testing.T) {
	admin := kratosAdmin(t)
	id, email := createOfficial(t, admin, Metadata{Role: RoleAccountant, Town: townA, Village: villageA}, "") // no password: found by its code identifier
	tests := []struct {
		name, email string
		found       bool
	}{
		{"exact", email, true},
		{"upper case and spaces", "  " + strings.ToUpper(email) + " ", true},
		{"unknown", "nobody-" + email, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acc, err := admin.FindByEmail(ctx(t), tt.email)
			if !tt.found {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("err %v, want ErrNotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if acc.ID != id || acc.Email != email || !acc.Active || !reflect.DeepEqual(acc.Metadata, Metadata{Role: RoleAccountant, Town: townA, Village: villageA}) || acc.MetadataErr != nil {
				t.Fatalf("account %+v", acc)
			}
		})
	}
}

func TestAdminSetMetadataChangesScope(t *testing.T) {
	admin := kratosAdmin(t)
	a := New(kratosPublic(t), WithCacheTTL(0))
	id, email := createOfficial(t, admin, Metadata{Role: RoleCommitteeMember, Town: townA, Village: villageA}, "a-long-password-2")
	token := testinfra.KratosLogin(t, email, "a-long-password-2")
	steps := []Metadata{
		{Role: RoleDirector, Town: townA, Village: villageC},
		{Role: RoleTownOfficial, Town: townB},
		{Role: RoleVillager},
	}
	for _, m := range steps {
		t.Run(string(m.Role), func(t *testing.T) {
			if err := admin.SetMetadata(ctx(t), id, m); err != nil {
				t.Fatal(err)
			}
			p := &probe{}
			if w := get(t, a.Require(p), cred{bearer: token}); w.Code != http.StatusNoContent {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if p.principal.Role != m.Role || p.principal.Town != m.Town || p.principal.Village != m.Village {
				t.Fatalf("principal %+v after SetMetadata(%+v)", p.principal, m)
			}
		})
	}
}

func TestAdminUnknownIdentity(t *testing.T) {
	admin := kratosAdmin(t)
	const missing = "00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name string
		call func() error
	}{
		{"SetMetadata", func() error { return admin.SetMetadata(ctx(t), missing, Metadata{Role: RoleVillager}) }},
		{"Deactivate", func() error { return admin.Deactivate(ctx(t), missing) }},
		{"Get", func() error { _, err := admin.Get(ctx(t), missing); return err }},
		{"RecoveryCode", func() error { _, _, err := admin.RecoveryCode(ctx(t), missing); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err %v, want ErrNotFound", err)
			}
		})
	}
}

// An official created without a password signs in for the first time with
// the recovery code the Admin hands out.
func TestAdminRecoveryCodeSignsIn(t *testing.T) {
	admin := kratosAdmin(t)
	a := New(kratosPublic(t), WithCacheTTL(0))
	id, _ := createOfficial(t, admin, Metadata{Role: RoleSupervisionChair, Town: townA, Village: villageA}, "")
	code, link, err := admin.RecoveryCode(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
		t.Fatalf("code %q", code)
	}
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("flow") == "" {
		t.Fatalf("link %q has no flow", link)
	}
	// Submit the code to the flow as a browser would (JSON).
	pub := kratosPublic(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body, _ := json.Marshal(map[string]string{"method": "code", "code": code})
	req, _ := http.NewRequest(http.MethodPost, pub+"/self-service/recovery?flow="+u.Query().Get("flow"), bytes.NewReader(body))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// Kratos answers a successful code with 422 browser_location_change_required
	// (go to the settings flow to set a password) and a session cookie.
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(b), "browser_location_change_required") {
		t.Fatalf("recovery: %s %s", resp.Status, b)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "wuxiao_session" {
			session = &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	if session == nil {
		t.Fatal("recovery set no session cookie")
	}
	p := &probe{}
	if w := get(t, a.Require(p), cred{cookie: session}); w.Code != http.StatusNoContent || p.principal.IdentityID != id || p.principal.Role != RoleSupervisionChair {
		t.Fatalf("after recovery: %d %+v", w.Code, p.principal)
	}
	// A code works once.
	req, _ = http.NewRequest(http.MethodPost, pub+"/self-service/recovery?flow="+u.Query().Get("flow"), bytes.NewReader(body))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err = (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "wuxiao_session" && ck.Value != "" {
			t.Fatalf("a used recovery code signed in again (%s)", resp.Status)
		}
	}
}
