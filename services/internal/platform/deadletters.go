package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// DeadLettersCommand is the dead-letters subcommand of a service binary, for
// SREs: list, show and replay the town's dead-lettered events. In a pod the
// town and the brokers come from the environment the operator set, so
//
//	kubectl exec -n town-xikou deploy/complaint -- complaint dead-letters list
//
// needs no flags. It talks to Kafka only (not to the database): a replay
// puts the event back on its original topic with its id unchanged, and the
// consumers' inboxes make that idempotent.
func DeadLettersCommand(base *config.Base) *cobra.Command {
	var timeout time.Duration
	dl := &events.DeadLetters{}
	cmd := &cobra.Command{
		Use:   "dead-letters",
		Short: "List, show and replay the town's dead-lettered events",
		Long: `List, show and replay the events the town's consumers gave up on (the
dead-letter topics wuxiao.<town>.<stream>.dlq). A replay puts the event back
on its original topic with the same event id: consumer groups that applied it
skip it (their inbox), the group that dead-lettered it applies it again.
Talks to Kafka only; the town and brokers default to the pod's environment.`,
		Args: cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			dl.Town, dl.Brokers = base.Town, base.KafkaBrokers
			if err := dl.Check(); err != nil {
				return &config.UsageError{Err: err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	env := config.NewEnv(cmd.PersistentFlags(), nil)
	env.String(&base.Town, "town", config.EnvTown, base.Town, "town whose dead letters these are")
	env.StringSlice(&base.KafkaBrokers, "kafka-brokers", config.EnvKafkaBrokers, base.KafkaBrokers, "Kafka bootstrap servers, host:port,...")
	cmd.PersistentFlags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long (Kafka unreachable)")
	withTimeout := func(cmd *cobra.Command) (context.Context, context.CancelFunc) {
		return context.WithTimeout(cmd.Context(), timeout)
	}

	var (
		f      filter
		output string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "Table of the town's dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			all, err := dl.List(ctx)
			if err != nil {
				return err
			}
			chosen := f.apply(all)
			switch output {
			case "table":
				return writeTable(cmd.OutOrStdout(), dl.Town, chosen)
			case "json":
				out := make([]shownDeadLetter, len(chosen))
				for i, d := range chosen {
					out[i] = showable(d)
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			return &config.UsageError{Err: fmt.Errorf("--output %q: give table or json", output)}
		},
	}
	f.bind(list, true)
	list.Flags().StringVarP(&output, "output", "o", "table", "table, or json (each as show prints it)")

	show := &cobra.Command{
		Use:   "show ID|POSITION",
		Short: "One dead letter as JSON (personal data masked)",
		Long: `Prints a dead letter as JSON: where it came from, why it was dead-lettered,
whether it was replayed, the event's attributes, headers and data. Names,
phone and ID numbers are masked and a reporter's details are never printed.
ID is an event id (every dead letter of that event is printed, as an array
when there are several); POSITION is the DLQ column of list.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			all, err := dl.List(ctx)
			if err != nil {
				return err
			}
			found, err := events.Find(all, args[0])
			if err != nil {
				return err
			}
			out := make([]shownDeadLetter, len(found))
			for i, d := range found {
				out[i] = showable(d)
			}
			if len(out) == 1 {
				return writeJSON(cmd.OutOrStdout(), out[0])
			}
			return writeJSON(cmd.OutOrStdout(), out)
		},
	}

	var (
		ids                []string
		all, dryRun, force bool
		replayFilter       filter
	)
	replay := &cobra.Command{
		Use:   "replay (--id ID|POSITION ... | --all) [--dry-run] [--force]",
		Short: "Put dead letters back on their original topics",
		Long: `Puts dead letters back on their original topics, with the same event id and
an x-wuxiao-replay-of header. Dead letters already replayed are skipped unless
--force (replaying again is harmless: inboxes skip an event already applied).
Of several dead letters of one event on one topic (several consumer groups
gave up on it) one replay serves them all. --dry-run prints what would be
replayed and writes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (len(ids) > 0) {
				return &config.UsageError{Err: errors.New("give either --id (one or more) or --all")}
			}
			ctx, cancel := withTimeout(cmd)
			defer cancel()
			list, err := dl.List(ctx)
			if err != nil {
				return err
			}
			var chosen []events.DeadLetter
			if all {
				chosen = replayFilter.apply(list)
			} else {
				for _, id := range ids {
					found, err := events.Find(list, id)
					if err != nil {
						return err
					}
					chosen = append(chosen, found...)
				}
			}
			return runReplay(ctx, cmd.OutOrStdout(), dl, chosen, !all, dryRun, force)
		},
	}
	replay.Flags().StringSliceVar(&ids, "id", nil, "event id or dead-letter position to replay (repeatable)")
	replay.Flags().BoolVar(&all, "all", false, "replay every dead letter (that --stream and --consumer select) not replayed yet")
	replay.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be replayed, write nothing")
	replay.Flags().BoolVar(&force, "force", false, "replay dead letters already replayed too")
	replayFilter.bind(replay, false)

	cmd.AddCommand(list, show, replay)
	return cmd
}

// filter selects dead letters for list and replay --all.
type filter struct {
	stream, consumer string
	pending          bool
}

func (f *filter) bind(cmd *cobra.Command, pending bool) {
	cmd.Flags().StringVar(&f.stream, "stream", "", "only this stream's dead letters: "+strings.Join(eventsv1.Streams, ", "))
	cmd.Flags().StringVar(&f.consumer, "consumer", "", "only those of this consumer group, e.g. wuxiao-complaint-xikou")
	if pending {
		cmd.Flags().BoolVar(&f.pending, "pending", false, "only those not replayed yet")
	}
}

func (f *filter) apply(list []events.DeadLetter) []events.DeadLetter {
	return slices.DeleteFunc(slices.Clone(list), func(d events.DeadLetter) bool {
		return (f.stream != "" && !strings.HasSuffix(d.OriginTopic, "."+f.stream)) ||
			(f.consumer != "" && d.Consumer != f.consumer) ||
			(f.pending && (d.Replayed != nil || d.NotReplayable != ""))
	})
}

func state(d events.DeadLetter) string {
	switch {
	case d.NotReplayable != "":
		return "not-replayable"
	case d.Replayed != nil:
		return "replayed"
	}
	return "pending"
}

// shortPosition leaves out the wuxiao.<town>. prefix (Find accepts it so).
func shortPosition(d events.DeadLetter, town string) string {
	return strings.TrimPrefix(d.Position(), "wuxiao."+town+".")
}

func writeTable(w io.Writer, town string, list []events.DeadLetter) error {
	if len(list) == 0 {
		_, err := fmt.Fprintf(w, "no dead letters in town %s\n", town)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DLQ\tDEAD-LETTERED\tEVENT ID\tTYPE\tVILLAGE\tCONSUMER\tATTEMPTS\tSTATE\tREASON")
	counts := map[string]int{}
	for _, d := range list {
		s := state(d)
		counts[s]++
		consumer := d.Consumer
		if consumer == "" {
			consumer = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortPosition(d, town), d.Time.UTC().Format(time.RFC3339),
			dash(d.EventID), dash(strings.TrimPrefix(d.Type, "cn.wuxiao.")), dash(d.Village), consumer, d.Attempts, s,
			oneLine(personal.ScrubText(d.Reason), 72))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d dead letters: %d pending, %d replayed, %d not replayable\n",
		len(list), counts["pending"], counts["replayed"], counts["not-replayable"])
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a table row on one line and at most n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// runReplay replays chosen (explicit: named with --id, so that a skip is an
// error) and prints one line per dead letter and a summary.
func runReplay(ctx context.Context, w io.Writer, dl *events.DeadLetters, chosen []events.DeadLetter, explicit, dryRun, force bool) error {
	// One replay per event and original topic serves every consumer group
	// of that topic: keep the latest dead letter of each, preferring one not
	// replayed yet.
	latest := map[string]int{}
	var todo []events.DeadLetter
	for _, d := range chosen {
		key := d.Position()
		if d.EventID != "" && d.NotReplayable == "" {
			key = d.OriginTopic + "\x00" + d.EventID
		}
		i, seen := latest[key]
		switch {
		case !seen:
			latest[key] = len(todo)
			todo = append(todo, d)
		case d.Position() == todo[i].Position():
		case (d.Replayed == nil) == (todo[i].Replayed == nil) && d.Time.After(todo[i].Time), d.Replayed == nil && todo[i].Replayed != nil:
			todo[i] = d
		}
	}
	var replayed, skipped int
	var failures []error
	for _, d := range todo {
		what := fmt.Sprintf("%s (event %s, %s, village %s)", d.Position(), dash(d.EventID), dash(d.Type), dash(d.Village))
		switch {
		case d.NotReplayable != "":
			skipped++
			fmt.Fprintf(w, "skipped %s: cannot be replayed: %s\n", what, d.NotReplayable)
			if explicit {
				failures = append(failures, fmt.Errorf("%s cannot be replayed", d.Position()))
			}
			continue
		case d.Replayed != nil && !force:
			skipped++
			fmt.Fprintf(w, "skipped %s: already replayed to %s at %s (--force replays it again)\n",
				what, d.Replayed.Position(), d.Replayed.Time.UTC().Format(time.RFC3339))
			continue
		}
		if dryRun {
			p, err := dl.ReplayPartition(ctx, d)
			if err != nil {
				return err
			}
			replayed++
			fmt.Fprintf(w, "would replay %s to %s/%d\n", what, d.OriginTopic, p)
			continue
		}
		r, err := dl.Replay(ctx, d, force)
		if err != nil {
			failures = append(failures, err)
			fmt.Fprintf(w, "failed %s: %v\n", what, err)
			continue
		}
		replayed++
		fmt.Fprintf(w, "replayed %s to %s\n", what, r.Position())
	}
	if dryRun {
		fmt.Fprintf(w, "dry run: %d would be replayed, %d skipped; nothing was written\n", replayed, skipped)
	} else {
		fmt.Fprintf(w, "%d replayed, %d skipped\n", replayed, skipped)
	}
	return errors.Join(failures...)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// shownDeadLetter is what show prints.
type shownDeadLetter struct {
	Position       string            `json:"position"`
	DeadLetteredAt time.Time         `json:"deadLetteredAt"`
	OriginTopic    string            `json:"originTopic"`
	Origin         string            `json:"origin,omitempty"`
	Consumer       string            `json:"consumer,omitempty"`
	Attempts       int               `json:"attempts"`
	Reason         string            `json:"reason"`
	State          string            `json:"state"`
	NotReplayable  string            `json:"notReplayable,omitempty"`
	ReplayOf       string            `json:"replayOf,omitempty"`
	Replayed       *shownReplay      `json:"replayed,omitempty"`
	Event          shownEvent        `json:"event"`
	Headers        map[string]string `json:"headers"`
	Data           json.RawMessage   `json:"data,omitempty"`
	// DataText is data that is not JSON (a malformed event), scrubbed.
	DataText string `json:"dataText,omitempty"`
	// Masked lists the data fields masked or withheld.
	Masked []string `json:"masked,omitempty"`
}

type shownReplay struct {
	Position string    `json:"position"`
	At       time.Time `json:"at"`
}

type shownEvent struct {
	ID      string     `json:"id,omitempty"`
	Type    string     `json:"type,omitempty"`
	Time    *time.Time `json:"time,omitempty"`
	Town    string     `json:"town,omitempty"`
	Village string     `json:"village,omitempty"`
	Subject string     `json:"subject,omitempty"`
}

func showable(d events.DeadLetter) shownDeadLetter {
	s := shownDeadLetter{
		Position: d.Position(), DeadLetteredAt: d.Time.UTC(), OriginTopic: d.OriginTopic, Origin: d.Origin,
		Consumer: d.Consumer, Attempts: d.Attempts, Reason: personal.ScrubText(d.Reason), State: state(d),
		NotReplayable: d.NotReplayable, ReplayOf: d.ReplayOf,
		Event:   shownEvent{ID: d.EventID, Type: d.Type, Town: d.Town, Village: d.Village, Subject: personal.ScrubText(d.Subject)},
		Headers: map[string]string{},
	}
	if !d.EventTime.IsZero() {
		t := d.EventTime.UTC()
		s.Event.Time = &t
	}
	if d.Replayed != nil {
		s.Replayed = &shownReplay{Position: d.Replayed.Position(), At: d.Replayed.Time.UTC()}
	}
	for _, h := range d.Headers {
		v := string(h.Value)
		if h.Key == events.HeaderError || h.Key == events.HeaderSubject {
			v = personal.ScrubText(v)
		}
		s.Headers[h.Key] = v
	}
	var data any
	if err := json.Unmarshal(d.Value, &data); err != nil {
		s.DataText = personal.ScrubText(string(d.Value))
		return s
	}
	data = maskPersonal(data, "data", &s.Masked)
	slices.Sort(s.Masked)
	s.Data, _ = json.Marshal(data)
	return s
}

// Events are meant to carry no reporter identity and only masked names
// (api/events/v1), but a dead letter is exactly the event that broke the
// rules, so show masks again by field name, whatever the event's type:
// reporters' details and contact fields are withheld, personal names and
// phone or ID numbers masked (services/internal/personal), free text
// scrubbed of the numbers it may hold.
var (
	withheldKeys = []string{"reporter", "trackingcode", "contact", "email", "address", "password", "secret"}
	phoneKeys    = []string{"phone", "mobile", "tel"}
	idKeys       = []string{"idnumber", "idcard", "residentid"}
	// Keys ending in "name" that do not name a person.
	thingNames   = []string{"name", "itemname", "stepname", "villagename", "townname", "filename", "catalogname", "programmename", "categoryname"}
	freeTextKeys = []string{"title", "reason", "message", "description", "summary", "comment", "note", "notes", "text", "body", "subject", "content", "remark"}
)

const withheld = "[withheld]"

func maskPersonal(v any, path string, masked *[]string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = maskField(k, e, path+"."+k, masked)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = maskPersonal(e, fmt.Sprintf("%s[%d]", path, i), masked)
		}
		return v
	}
	return v
}

func maskField(key string, v any, path string, masked *[]string) any {
	k := strings.ToLower(key)
	has := func(parts []string) bool {
		return slices.ContainsFunc(parts, func(p string) bool { return strings.Contains(k, p) })
	}
	note := func(out any) any {
		*masked = append(*masked, path)
		return out
	}
	if strings.HasSuffix(k, "masked") || strings.HasSuffix(k, "hash") {
		return maskPersonal(v, path, masked) // already safe by contract
	}
	switch {
	case has(withheldKeys):
		if v == nil || v == "" {
			return v
		}
		return note(withheld)
	case has(phoneKeys):
		if s, ok := v.(string); ok && s != "" {
			return note(personal.MaskPhone(s))
		}
	case has(idKeys):
		if s, ok := v.(string); ok && s != "" {
			return note(personal.MaskIDNumber(s))
		}
	case strings.HasSuffix(k, "name") && !slices.Contains(thingNames, k):
		if s, ok := v.(string); ok && s != "" {
			if m := personal.MaskName(s); m != s {
				return note(m)
			}
			return s
		}
	case slices.Contains(freeTextKeys, k):
		if s, ok := v.(string); ok {
			if m := personal.ScrubText(s); m != s {
				return note(m)
			}
			return s
		}
	}
	return maskPersonal(v, path, masked)
}
