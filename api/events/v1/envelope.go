package eventsv1

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
)

// SpecVersion is the CloudEvents version used.
const SpecVersion = "1.0"

// ContentType of every event's data.
const ContentType = "application/json"

// Event is one CloudEvent with its data still encoded.
type Event struct {
	ID      string    `json:"id"`
	Source  string    `json:"source"` // e.g. /towns/xikou/workflow
	Type    string    `json:"type"`   // e.g. cn.wuxiao.workflow.warning.raised.v1
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	// DataSchema names the JSON Schema of Data (see Schema).
	DataSchema string `json:"dataschema,omitempty"`
	// Town and Village scope the event (extension attributes).
	Town    string          `json:"town"`
	Village string          `json:"village,omitempty"`
	Data    json.RawMessage `json:"data"`
}

var (
	typePattern = regexp.MustCompile(`^cn\.wuxiao\.[a-z]+(\.[a-z-]+)+\.v[0-9]+$`)
)

// Validate checks the attributes every event must carry.
func (e *Event) Validate() error {
	switch {
	case e.ID == "":
		return fmt.Errorf("event has no id")
	case e.Source == "":
		return fmt.Errorf("event %s has no source", e.ID)
	case !typePattern.MatchString(e.Type):
		return fmt.Errorf("event %s: type %q is not of the form cn.wuxiao.<service>.<entity>.<action>.v<N>", e.ID, e.Type)
	case e.Time.IsZero():
		return fmt.Errorf("event %s has no time", e.ID)
	case e.Time.UTC().Year() < 0 || e.Time.UTC().Year() > 9999:
		// ce_time is RFC 3339, whose years have four digits: such a time
		// would be written but refused by every consumer.
		return fmt.Errorf("event %s: time %s is not an RFC 3339 time", e.ID, e.Time.UTC())
	case e.Town == "":
		return fmt.Errorf("event %s has no town", e.ID)
	case e.Village != "" && !divcode.Valid(e.Village):
		return fmt.Errorf("event %s: village %q is not a 12-digit code", e.ID, e.Village)
	case !json.Valid(e.Data):
		return fmt.Errorf("event %s: data is not valid JSON", e.ID)
	}
	return nil
}

// Key is the Kafka message key of the event: its village, else its town.
func (e *Event) Key() string {
	if e.Village != "" {
		return e.Village
	}
	return e.Town
}

// Decode unmarshals the event's data into v.
func (e *Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("event %s (%s): decoding data: %w", e.ID, e.Type, err)
	}
	return nil
}

// Topic is the Kafka topic of a town's stream; each service publishes to
// its own stream (workflow, disclosure, complaint, inspection) and the
// operator to "tenant".
func Topic(town, stream string) string { return "wuxiao." + town + "." + stream }

// DeadLetterTopic receives the events a consumer gave up on.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// Streams of a town, one topic each.
const (
	StreamWorkflow   = "workflow"
	StreamDisclosure = "disclosure"
	StreamComplaint  = "complaint"
	StreamInspection = "inspection"
	StreamTenant     = "tenant"
)

// Streams lists every stream of a town.
// (tenant-acks, StreamTenantAcks, is written by every service and read by
// the operator).
var Streams = []string{StreamWorkflow, StreamDisclosure, StreamComplaint, StreamInspection, StreamTenant, StreamTenantAcks}
