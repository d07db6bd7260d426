package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestApplicationTransaction checks the application's batched transaction
// (fileApplication) on one pooled connection: what a filed
// application stores (its files byte for byte, a valid two-entry audit
// chain, the events in order), and that a refusal before the files and a
// failure after them both leave nothing behind and the connection clean.
func TestApplicationTransaction(t *testing.T) {
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t)+"&pool_max_conns=1", clk)
	const other = "330213100202"
	for _, code := range []string{village, other} {
		if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, registered(code, "u-"+code, 1)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Fails the transaction after the files' bytes are copied: the
	// application row comes in the last batch.
	if _, err := s.Pool.Exec(ctx, `CREATE FUNCTION refuse_application() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.doc->>'description' = 'fail' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_application BEFORE INSERT ON applications FOR EACH ROW EXECUTE FUNCTION refuse_application()`); err != nil {
		t.Fatal(err)
	}
	photo, pdf := mediatest.JPEG(8, 8), samplePDF()
	input := func(desc string) ApplyInput {
		return ApplyInput{ItemID: "duty-homestead", Name: "张小明", Phone: "13800138000", IDNumber: applicantID, Description: desc,
			Files: []MaterialUpload{{Material: OtherMaterial, Name: "身份证.jpg", Data: photo}, {Material: OtherMaterial, Name: "证明.pdf", Data: pdf}}}
	}
	counts := func() string {
		var inst, apps, files, chunks int
		if err := s.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM instances), (SELECT count(*) FROM applications),
			(SELECT count(*) FROM evidence_files), (SELECT count(DISTINCT file_id) FROM file_chunks)`).Scan(&inst, &apps, &files, &chunks); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("%d/%d/%d/%d", inst, apps, files, chunks)
	}

	receipt, err := s.Apply(ctx, village, input("家中住房年久失修"), nil)
	if err != nil {
		t.Fatal(err)
	}
	inst := receipt.Instance
	if got := counts(); got != "1/1/2/2" {
		t.Errorf("instances/applications/files/chunked files %s, want 1/1/2/2", got)
	}
	for _, ev := range inst.Evidence {
		_, data, err := s.OpenEvidenceFile(ctx, inst.ID, ev.ID)
		sum := sha256.Sum256(data)
		if err != nil || hex.EncodeToString(sum[:]) != ev.SHA256 || int64(len(data)) != ev.Size || mediatest.HasGPS(data) {
			t.Errorf("file %s: %d bytes (%v), recorded %d", ev.Name, len(data), err, ev.Size)
		}
		if strings.HasSuffix(ev.Name, ".pdf") && !bytes.Contains(data, []byte("%PDF")) {
			t.Errorf("file %s is not the PDF sent", ev.Name)
		}
	}
	entries, err := readAudit(ctx, s.Pool, inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Action != "application.filed" || entries[1].Action != "step.completed" {
		t.Fatalf("audit %+v", entries)
	}
	if c := VerifyChain(entries, s.AuditKey); !c.Valid || c.Entries != 2 {
		t.Errorf("audit chain %+v", c)
	}
	rows, _ := s.Pool.Query(ctx, `SELECT headers->>'ce_type' FROM outbox WHERE topic = $1 ORDER BY seq`, s.topic())
	types, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{eventsv1.TypeAuditAnchored, eventsv1.TypeAuditAnchored, eventsv1.TypeInstanceStarted, eventsv1.TypeStepCompleted, eventsv1.TypeApplicationFiled}
	if len(types) < len(want) || strings.Join(types[:len(want)], " ") != strings.Join(want, " ") {
		t.Errorf("events %q, want %q first", types, want)
	}

	for _, tc := range []struct {
		name, village, desc, problem string
	}{
		{"failed after the files' bytes", village, "fail", ""},
		{"archived village", other, "翻建", "village-archived"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.problem == "village-archived" {
				if err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error { return s.HandleTenantEvent(ctx, tx, archived(other, "u-"+other, 2)) }); err != nil {
					t.Fatal(err)
				}
			}
			before, conns := counts(), s.Pool.Stat().NewConnsCount()
			_, err := s.Apply(ctx, tc.village, input(tc.desc), nil)
			var de *domainerr.Error
			switch {
			case err == nil:
				t.Fatal("filed")
			case tc.problem != "" && (!errors.As(err, &de) || de.Type != tc.problem):
				t.Fatalf("refusal %v, want %s", err, tc.problem)
			case tc.problem == "" && !strings.Contains(err.Error(), "refused by the test"):
				t.Fatalf("error %v", err)
			}
			if got := counts(); got != before {
				t.Errorf("left behind: instances/applications/files/chunked files %s, were %s", got, before)
			}
			// The one connection went back to the pool clean (a
			// connection left in a transaction is closed by the pool and
			// replaced) and the next application files on it.
			if _, err := s.Apply(ctx, village, input("再次申请"), nil); err != nil {
				t.Fatalf("next application: %v", err)
			}
			if n := s.Pool.Stat().NewConnsCount(); n != conns {
				t.Errorf("%d connections opened, %d before: the failed transaction's connection was not rolled back", n, conns)
			}
		})
	}
}
