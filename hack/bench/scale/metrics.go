package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// serverSnapshot is what kube-apiserver's /metrics says about the requests it
// has served.
type serverSnapshot struct {
	At time.Time
	// Completed requests (apiserver_request_total). A watch is counted here
	// only when it ends.
	Total counts
	// Open long-running requests, i.e. watches (apiserver_longrunning_requests).
	Open map[reqKey]float64
	// Requests the API server made to itself (apiserver_selfrequest_total):
	// its own leases, controllers and admission informers.
	Self map[reqKey]float64
}

// started returns the requests started between a and b, by kind:
// completed(b) - completed(a) + open(b) - open(a). A watch opened before a
// and closed inside the window adds one to completed and removes one from
// open, so it cancels out; one opened inside and still open at b counts once.
func started(a, b serverSnapshot) counts {
	d := b.Total.sub(a.Total)
	for k, v := range b.Open {
		d.ByKey[k] += v
	}
	for k, v := range a.Open {
		d.ByKey[k] -= v
	}
	for k, v := range b.Self {
		d.ByKey[k] -= v
	}
	for k, v := range a.Self {
		d.ByKey[k] += v
	}
	return d
}

// scraper reads /metrics of the API server through a client that is not
// counted (and whose requests are non-resource requests anyway).
type scraper struct{ rc rest.Interface }

func newScraper(cfg *rest.Config) (*scraper, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &scraper{rc: cs.Discovery().RESTClient()}, nil
}

func (s *scraper) scrape(ctx context.Context) (serverSnapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := s.rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return serverSnapshot{}, fmt.Errorf("scraping kube-apiserver /metrics: %w", err)
	}
	return parseMetrics(body, time.Now())
}

func parseMetrics(body []byte, at time.Time) (serverSnapshot, error) {
	snap := serverSnapshot{At: at, Total: newCounts(), Open: map[reqKey]float64{}, Self: map[reqKey]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		var dst string
		switch {
		case strings.HasPrefix(line, "apiserver_request_total{"):
			dst = "total"
		case strings.HasPrefix(line, "apiserver_longrunning_requests{"):
			dst = "open"
		case strings.HasPrefix(line, "apiserver_selfrequest_total{"):
			dst = "self"
		default:
			continue
		}
		labels, value, err := parseSample(line)
		if err != nil {
			return snap, fmt.Errorf("parsing %q: %w", line, err)
		}
		if labels["resource"] == "" {
			continue // non-resource requests are not compared
		}
		if c := labels["component"]; c != "" && c != "apiserver" {
			continue
		}
		k := reqKey{Verb: serverVerb(labels["verb"], labels["scope"]), Group: labels["group"], Resource: labels["resource"], Subresource: labels["subresource"]}
		switch dst {
		case "total":
			if labels["dry_run"] != "" {
				continue
			}
			snap.Total.ByKey[k] += value
			if k.Verb != "WATCH" {
				snap.Total.ByCode[labels["code"]] += value
			}
		case "open":
			snap.Open[k] += value
		case "self":
			snap.Self[k] += value
		}
	}
	return snap, sc.Err()
}

// serverVerb maps the verb label of the API server's metrics, which keeps the
// HTTP method for writes, to the names the client side uses (those of
// Kubernetes RBAC and audit): POST is CREATE, PUT is UPDATE, a DELETE of a
// collection is DELETECOLLECTION.
func serverVerb(verb, scope string) string {
	switch verb {
	case "POST":
		return "CREATE"
	case "PUT":
		return "UPDATE"
	case "DELETE":
		if scope == "namespace" || scope == "cluster" {
			return "DELETECOLLECTION"
		}
	}
	return verb
}

// parseSample parses one line of the Prometheus text format:
// name{a="x",b="y"} value [timestamp].
func parseSample(line string) (map[string]string, float64, error) {
	open := strings.IndexByte(line, '{')
	labels := map[string]string{}
	i := open + 1
	for i < len(line) && line[i] != '}' {
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			return nil, 0, fmt.Errorf("no = in labels")
		}
		name := strings.TrimLeft(line[i:i+eq], ", ")
		i += eq + 1
		if i >= len(line) || line[i] != '"' {
			return nil, 0, fmt.Errorf("label value not quoted")
		}
		i++
		var val strings.Builder
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' && i+1 < len(line) {
				i++
				switch line[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(line[i])
				}
			} else {
				val.WriteByte(line[i])
			}
			i++
		}
		i++ // closing quote
		labels[name] = val.String()
		for i < len(line) && line[i] == ',' {
			i++
		}
	}
	if i >= len(line) {
		return nil, 0, fmt.Errorf("unterminated labels")
	}
	fields := strings.Fields(line[i+1:])
	if len(fields) == 0 {
		return nil, 0, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	return labels, v, err
}
