package workflow

import "testing"

// TestHashIDIsTheDistrictHash: payees' and relatives' hashes are compared
// with those of the disclosure and inspection services, so the workflow's
// must be personal.HashID's, byte for byte (vector also pinned there).
func TestHashIDIsTheDistrictHash(t *testing.T) {
	s := &Service{IDHashKey: []byte("test-key")}
	for _, in := range []string{"330283199001011238", " 330283199001011238\n", "３３０２８３１９９００１０１１２３８"} {
		if got, want := s.HashID(in), "6826d2fc8a0e235bea6ef88924f32e83d6d592b6b7252549cbbcfab0f4a4b443"; got != want {
			t.Errorf("HashID(%q) = %s, want %s", in, got, want)
		}
	}
}
