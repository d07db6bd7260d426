package workflow

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
	"github.com/wuxiao/wuxiao/services/internal/media"
	"github.com/wuxiao/wuxiao/services/internal/media/mediatest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// TestApplicationUploadBuffersReused: the intake's files live in memory
// lent for the request and reused by the next ones (uploadBuffers); each
// application, one after another and several at once, with pictures of
// different sizes (a larger one after a smaller one, a smaller one in a
// larger one's buffer), stores exactly its own cleaned file.
func TestApplicationUploadBuffersReused(t *testing.T) {
	clk := &clock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, tz.Shanghai))
	s := replica(t, testinfra.Postgres(t), clk)
	// Rate limits are not what is tested: every request is admitted.
	s.ApplicationLimits = ApplicationLimits{ClientEvery: time.Nanosecond, ClientBurst: 1 << 30,
		VillageEvery: time.Nanosecond, VillageBurst: 1 << 30}
	ts := httpapitest.ServeAPI(t, httpapitest.APIBase(town), s.Routes)
	photos := [][]byte{mediatest.JPEG(8, 8), mediatest.JPEG(640, 480), mediatest.PNG(40, 30), mediatest.JPEG(32, 24), noisyJPEG(t, 300<<10)}
	apply := func(t *testing.T, photo []byte) {
		name := "身份证.jpg"
		if media.Sniff(photo) == media.PNG {
			name = "身份证.png"
		}
		res := postForm(t, ts, "/v1/public/villages/"+village+"/applications", applyFields("service-certificate"), formFile{"material-1", name, photo})
		if res.Status != 201 {
			t.Errorf("status %d: %s", res.Status, res.Raw)
			return
		}
		inst, err := s.ByTrackingNumber(context.Background(), res.Body["trackingNumber"].(string))
		if err != nil || len(inst.Evidence) != 1 {
			t.Errorf("instance %v %v", inst, err)
			return
		}
		want, _ := media.Clean(photo)
		_, got, err := s.OpenEvidenceFile(context.Background(), inst.ID, inst.Evidence[0].ID)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("stored %d bytes (%v), want the cleaned %d", len(got), err, len(want))
		}
	}
	t.Run("one after another", func(t *testing.T) {
		for _, p := range photos {
			apply(t, p)
		}
	})
	t.Run("at once", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 2 {
			for _, p := range photos {
				wg.Go(func() { apply(t, p) })
			}
		}
		wg.Wait()
	})
}
