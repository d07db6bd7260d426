package workflow

import "sync"

// uploadBuffers lends a public application the memory for its files, as
// read and as cleaned, and takes it back when the application is filed or
// refused. A fresh buffer is zeroed by the runtime before the upload
// overwrites it, and becomes garbage right after: for a 1 MiB photo, read
// and cleaned, that was two MiB zeroed and collected per application
// (issue 16's benchmark: a tenth of this process's CPU). Reused, it is
// neither. The buffers are at most the uploads of the requests holding an
// upload slot (ConcurrentFiles), and the pool lets go of them at garbage
// collections when the intake is quiet.
type uploadBuffers struct{ lent []*[]byte }

var uploadPool sync.Pool // *[]byte

// uploadBufferStep rounds the buffers' sizes up, so that one lent for a
// photo fits the next one of about the same size.
const uploadBufferStep = 256 << 10

// get returns an empty buffer of at least n bytes' capacity; nil u lends
// nothing (a fresh buffer).
func (u *uploadBuffers) get(n int) []byte {
	if u == nil {
		return make([]byte, 0, n)
	}
	p, _ := uploadPool.Get().(*[]byte)
	if p == nil || cap(*p) < n {
		b := make([]byte, 0, (n+uploadBufferStep-1)/uploadBufferStep*uploadBufferStep)
		p = &b
	}
	u.lent = append(u.lent, p)
	return (*p)[:0]
}

// release gives every buffer back: nothing may use them after.
func (u *uploadBuffers) release() {
	for _, p := range u.lent {
		uploadPool.Put(p)
	}
	u.lent = nil
}
