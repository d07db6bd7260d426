package gateway

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// The town services the gateway reaches.
const (
	ServiceWorkflow   = "workflow"
	ServiceDisclosure = "disclosure"
	ServiceComplaint  = "complaint"
	ServiceInspection = "inspection"
)

// ErrUnknownTown: no town of this district has that name or village code
// (answered 404, not 503).
var ErrUnknownTown = errors.New("unknown town or village")

// ErrNoBackend: the town exists but none of the service's pods is ready
// (answered 503 with Retry-After).
var ErrNoBackend = errors.New("no ready backend")

// Town is what the gateway knows of a town.
type Town struct {
	Name        string // Town object name, e.g. xikou
	Code        string // 12-digit administrative division code
	DisplayName string // e.g. 溪口镇
}

// Backends tells the gateway where towns and their services are. In a
// cluster it is a watch-based cache of Towns and EndpointSlices; in tests
// and `make dev-local` a fixed table.
type Backends interface {
	// TownOfVillage returns the town a 12-digit village code belongs to.
	TownOfVillage(village string) (Town, error)
	// Town returns the town named name.
	Town(name string) (Town, error)
	// Towns lists the district's towns, by name.
	Towns() []Town
	// ServiceURL returns a base URL (scheme and host) of a ready pod of the
	// town's service; successive calls spread requests over the pods.
	ServiceURL(town, service string) (*url.URL, error)
}

// StaticBackends is a fixed table of towns and service URLs.
type StaticBackends struct {
	mu    sync.RWMutex
	towns map[string]Town
	urls  map[string]*url.URL // town/service → base URL
}

// NewStaticBackends returns an empty table.
func NewStaticBackends() *StaticBackends {
	return &StaticBackends{towns: map[string]Town{}, urls: map[string]*url.URL{}}
}

// AddTown registers a town and the base URL of each of its services
// (service name → URL, e.g. "workflow" → "http://127.0.0.1:8081").
func (s *StaticBackends) AddTown(t Town, services map[string]string) error {
	if len(t.Code) != 12 {
		return fmt.Errorf("town %s: code %q is not a 12-digit code", t.Name, t.Code)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, raw := range services {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("town %s: %s URL %q is not an absolute URL", t.Name, name, raw)
		}
		s.urls[t.Name+"/"+name] = u
	}
	s.towns[t.Name] = t
	return nil
}

// TownOfVillage implements Backends: a village's code starts with its
// town's first 9 digits.
func (s *StaticBackends) TownOfVillage(village string) (Town, error) {
	if len(village) != 12 {
		return Town{}, ErrUnknownTown
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.towns {
		if strings.HasPrefix(village, t.Code[:9]) {
			return t, nil
		}
	}
	return Town{}, ErrUnknownTown
}

// Town implements Backends.
func (s *StaticBackends) Town(name string) (Town, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.towns[name]
	if !ok {
		return Town{}, ErrUnknownTown
	}
	return t, nil
}

// Towns implements Backends.
func (s *StaticBackends) Towns() []Town {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return sortedTowns(s.towns)
}

// ServiceURL implements Backends.
func (s *StaticBackends) ServiceURL(town, service string) (*url.URL, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.towns[town]; !ok {
		return nil, ErrUnknownTown
	}
	u, ok := s.urls[town+"/"+service]
	if !ok {
		return nil, fmt.Errorf("%w: %s of town %s", ErrNoBackend, service, town)
	}
	c := *u
	return &c, nil
}
