package complaint

// The daily byte budget, the fourth abuse guard: counts of submissions
// alone let one client store gigabytes a day, so the report page also
// reserves each body's bytes against RateLimitConfig.ClientDailyBytes.

import (
	"fmt"
	"time"
)

// byteBudget is one client's upload budget: bytes used since start.
type byteBudget struct {
	start time.Time
	used  int64
}

func newByteBudget() *byteBudget { return &byteBudget{} }

// uploadDay is the period of ClientDailyBytes.
const uploadDay = 24 * time.Hour

// ReserveBytes takes n bytes of the client's daily upload budget before a
// body of (at most) n bytes is read. When they are not left, nothing is
// taken and the Decision (Reason LimitReasonClient) says when the budget
// renews. Give back what the body did not use with SettleBytes.
func (r *RateLimiter) ReserveBytes(clientAddr string, n int64, now time.Time) Decision {
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.uploads.Get(ck, now, newByteBudget)
	if b.start.IsZero() || now.Sub(b.start) >= uploadDay {
		b.start, b.used = now, 0
	}
	if b.used+n > r.cfg.ClientDailyBytes {
		wait := b.start.Add(uploadDay).Sub(now).Round(time.Second) + time.Second
		return Decision{Reason: LimitReasonClient, RetryAfter: wait,
			Message: fmt.Sprintf("今天从您的网络上传的内容已达上限（每天%dMB），请明天再试，或不带附件提交", r.cfg.ClientDailyBytes>>20)}
	}
	b.used += n
	return Decision{Allowed: true}
}

// SettleBytes gives back the part of a reservation a body did not use
// (reserved - used; a reservation from a previous day is not given back).
func (r *RateLimiter) SettleBytes(clientAddr string, reserved, used int64, now time.Time) {
	if used >= reserved {
		return
	}
	ck := r.ClientKey(clientAddr)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.uploads.Get(ck, now, newByteBudget)
	if !b.start.IsZero() && now.Sub(b.start) < uploadDay {
		b.used = max(0, b.used-(reserved-used))
	}
}
