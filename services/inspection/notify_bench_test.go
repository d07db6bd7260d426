package inspection

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// BenchmarkNotificationDelivery: b.N overdue-step messages, each delivered
// to one mailbox of a real SMTP server and to a real HTTP robot, by four
// workers on the real PostgreSQL (fan-out included). Reports messages/s
// (both sends accepted) and sends/s; duplicates must be 0.
func BenchmarkNotificationDelivery(b *testing.B) {
	ctx := context.Background()
	s := newService(b, testinfra.Postgres(b), svcTown, &testClock{})
	s.Now = nil
	ms := newMailServer(b, 0)
	rb := newRobot(b, "SEC-bench", 0)
	chans := testChannels(ms, rb)
	chans.Channels[0].Email.Recipients = officeRecipients[:1]
	d := deliverer(s, StaticChannels(chans))
	d.Workers = 4
	for range b.N {
		m := &Message{EventID: uuid.NewString(), EventType: eventsv1.TypeStepEscalated, Kind: notifications.KindOverdue,
			Title: "已超期：村党组织提议", Body: "岩头村“重大事项决策”的“村党组织提议”一步已超过办理时限（2026年4月11日），仍未办结。",
			Link: "/console/processes/" + uuid.NewString(), Roles: []identity.Role{identity.RoleCashier, identity.RoleTownOfficial},
			Town: svcTown, Village: svcVillage, CreatedAt: time.Now()}
		if _, err := insertMessage(ctx, s.Pool, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	sends, err := d.DeliverDue(ctx)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	accepted, _ := ms.count()
	received, _, bad := rb.count()
	if sends != 2*b.N || accepted != b.N || received != b.N || len(bad) > 0 {
		b.Fatalf("%d sends, %d e-mails, %d robot posts (%v) for %d messages", sends, accepted, received, bad, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "messages/s")
	b.ReportMetric(float64(sends)/elapsed.Seconds(), "sends/s")
}
