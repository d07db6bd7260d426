package testinfra

import "testing"

// A private broker's port pair is held while its broker is stopped, by
// this process and against every other test process.
func TestReservePortIsExclusive(t *testing.T) {
	const port = 29290 // the last pair of the range: rarely in use
	release, ok := reservePort(port)
	if !ok {
		t.Fatalf("port %d reserved elsewhere; is a test using a private broker running?", port)
	}
	if again, ok := reservePort(port); ok {
		again()
		t.Fatal("a reserved port pair was reserved a second time")
	}
	release()
	again, ok := reservePort(port)
	if !ok {
		t.Fatal("a released port pair could not be reserved again")
	}
	again()
}
