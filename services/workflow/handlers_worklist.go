package workflow

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Town-wide listings for the staff console: a town official's approvals
// wait in every village of the town, so listing village by village would
// cost one request per village. Both routes are scoped with the service's
// own town (s.Town), never with the caller's claim: a town role of another
// town gets 403, a village role sees its own village only.

func (s *Service) worklistRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/instances", s.listTown)
	srv.HandleFunc("GET /v1/villages", s.listVillages)
}

// townScope returns the villages a caller is confined to in this town (nil =
// every village of the town), or ok=false when the caller reads nothing of
// this town's processes: village roles of this town read their own
// village, a liaison cadre of this town the villages assigned to it; town
// roles of this town (but town-it) and district roles covering the town
// (identity.Principal.InTown: a 片组's) read every village.
func (s *Service) townScope(p identity.Principal) (villages []string, ok bool) {
	switch {
	case p.Role.IsVillageRole():
		return []string{p.Village}, p.Town == s.Town && divcode.Valid(p.Village)
	case p.Role.IsLiaisonCadre():
		return p.Villages, p.Town == s.Town && len(p.Villages) > 0
	case p.Role.IsTownRole():
		return nil, p.Role != identity.RoleTownIT && p.Town == s.Town
	case p.Role.IsDistrictRole():
		return nil, p.InTown(s.Town)
	}
	return nil, false
}

// InstanceFilter selects instances of the town.
type InstanceFilter struct {
	// Village, when set, is a 12-digit village code.
	Village string
	// Status is running, completed or withdrawn ("" = any).
	Status string
	// WaitingFor, when set, keeps running instances whose current step is
	// recorded by this role (a catalog role, e.g. town-finance).
	WaitingFor string
	// Villages, when set, keeps the instances of these villages only (a
	// liaison cadre's).
	Villages []string
	Limit    int
}

// ListTown lists the instances of this town that match f, newest first.
func (s *Service) ListTown(ctx context.Context, f InstanceFilter) ([]*Instance, error) {
	var waiting []string // "item/step" whose step the role records
	if f.WaitingFor != "" {
		for _, it := range s.Engine.Catalog.Items {
			for _, st := range it.Steps {
				if string(st.Role) == f.WaitingFor {
					waiting = append(waiting, it.ID+"/"+st.ID)
				}
			}
		}
		if len(waiting) == 0 {
			return []*Instance{}, nil
		}
	}
	rows, err := s.Pool.Query(ctx, `SELECT doc FROM instances
		WHERE town = $1 AND ($2 = '' OR village = $2) AND ($3 = '' OR status = $3)
		AND ($4::text[] IS NULL OR (status = 'running' AND item_id || '/' || current_step = ANY($4)))
		AND ($6::text[] IS NULL OR village = ANY($6))
		ORDER BY started_at DESC LIMIT $5`, s.Town, f.Village, f.Status, waiting, f.Limit, f.Villages)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Instance, error) {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return nil, err
		}
		inst := &Instance{}
		return inst, json.Unmarshal(doc, inst)
	})
}

// listTown is GET /v1/instances?village=&status=&waitingFor=&limit=.
func (s *Service) listTown(w http.ResponseWriter, r *http.Request) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
		return
	}
	scope, ok := s.townScope(p)
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the processes of town "+s.Town))
		return
	}
	q := r.URL.Query()
	f := InstanceFilter{Village: q.Get("village"), Status: q.Get("status"), WaitingFor: q.Get("waitingFor"), Limit: limit(r)}
	var errs []httpapi.FieldError
	if f.Village != "" && !divcode.Valid(f.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "a 12-digit village code"})
	}
	if f.Status != "" && !slices.Contains([]Status{StatusRunning, StatusCompleted, StatusWithdrawn}, Status(f.Status)) {
		errs = append(errs, httpapi.FieldError{Field: "status", Detail: "running, completed or withdrawn"})
	}
	if f.WaitingFor != "" && !identity.Role(f.WaitingFor).Valid() {
		errs = append(errs, httpapi.FieldError{Field: "waitingFor", Detail: "a role, e.g. town-official or director"})
	}
	if len(errs) > 0 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(errs...))
		return
	}
	if scope != nil {
		if f.Village != "" && !slices.Contains(scope, f.Village) {
			httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read village "+f.Village))
			return
		}
		f.Villages = scope
	}
	list, err := s.ListTown(r.Context(), f)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

// VillageInfo is a village the town's workflow knows.
type VillageInfo struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Archived bool   `json:"archived,omitempty"`
}

// Villages lists the villages of this town the service knows, by code.
func (s *Service) Villages(ctx context.Context) ([]VillageInfo, error) {
	rows, err := s.Pool.Query(ctx, `SELECT code, name, archived_at IS NOT NULL FROM villages WHERE town = $1 ORDER BY code`, s.Town)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VillageInfo, error) {
		var v VillageInfo
		return v, r.Scan(&v.Code, &v.Name, &v.Archived)
	})
}

// listVillages is GET /v1/villages: the villages of this town (a village
// role sees its own only).
func (s *Service) listVillages(w http.ResponseWriter, r *http.Request) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
		return
	}
	scope, ok := s.townScope(p)
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the villages of town "+s.Town))
		return
	}
	list, err := s.Villages(r.Context())
	if err != nil {
		writeErr(w, r, err)
		return
	}
	if scope != nil {
		list = slices.DeleteFunc(list, func(v VillageInfo) bool { return !slices.Contains(scope, v.Code) })
	}
	_ = httpapi.WriteItems(w, list)
}
