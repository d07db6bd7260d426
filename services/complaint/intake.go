// A new complaint: what the QR page and the JSON intake send, checked
// before it is filed (the report page's field-by-field checks are in
// intakelimits.go and handlers.go).

package complaint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

// Intake is what the QR page sends.
type Intake struct {
	Village     string       `json:"village"`
	Category    Category     `json:"category"`
	Description string       `json:"description"`
	Attachments []Attachment `json:"attachments,omitempty"`
	// Posting, when set, makes it an objection to that posting (objection.go).
	Posting string `json:"posting,omitempty"`
}

// Validate checks an intake.
func (in Intake) Validate() error {
	var problems []string
	if !divcode.Valid(in.Village) {
		problems = append(problems, "village must be a 12-digit village code")
	}
	if !in.Category.Valid() {
		problems = append(problems, fmt.Sprintf("category must be one of %v", Categories))
	}
	if n := len([]rune(strings.TrimSpace(in.Description))); n < IntakeMinDescriptionRunes || n > IntakeMaxDescriptionRunes {
		problems = append(problems, fmt.Sprintf("description needs %d to %d characters", IntakeMinDescriptionRunes, IntakeMaxDescriptionRunes))
	}
	if len(in.Attachments) > MaxAttachments {
		problems = append(problems, fmt.Sprintf("at most %d attachments", MaxAttachments))
	}
	if in.Posting != "" && !ValidPostingID(in.Posting) {
		problems = append(problems, "posting must be the id of a posting on the notice board (a UUID)")
	}
	for i, a := range in.Attachments {
		if a.Size <= 0 || a.Size > MaxAttachmentSize {
			problems = append(problems, fmt.Sprintf("attachment %d: size must be 1 to %d bytes", i+1, MaxAttachmentSize))
		}
		if !slices.Contains(AttachmentTypes, a.ContentType) {
			problems = append(problems, fmt.Sprintf("attachment %d: type %q is not one of %v", i+1, a.ContentType, AttachmentTypes))
		}
		if b, err := hex.DecodeString(a.SHA256); err != nil || len(b) != sha256.Size {
			problems = append(problems, fmt.Sprintf("attachment %d: sha256 must be 64 hexadecimal characters", i+1))
		}
		if a.Stored && a.staged != "" {
			// Streamed to the database: size, hash and type were taken from
			// the bytes as they were staged, and the database checks size
			// and hash again when it moves them (insertAttachments).
		} else if a.Stored {
			// Uploaded bytes: what is recorded must be what was received.
			sum := sha256.Sum256(a.Content)
			if int64(len(a.Content)) != a.Size || hex.EncodeToString(sum[:]) != a.SHA256 || sniffIntakeType(a.Content) != a.ContentType {
				problems = append(problems, fmt.Sprintf("attachment %d: size, hash or type do not match the content", i+1))
			}
		} else if !strings.HasPrefix(a.URL, "https://") {
			problems = append(problems, fmt.Sprintf("attachment %d: url must be an https link", i+1))
		}
		if a.Name == "" || len(a.Name) > 200 {
			problems = append(problems, fmt.Sprintf("attachment %d: name needs 1 to 200 characters", i+1))
		}
	}
	if len(problems) > 0 {
		return domainerr.Refuse(400, "invalid-request", "Invalid complaint", "%s", strings.Join(problems, "; "))
	}
	return nil
}

// New makes a received complaint from an intake. The caller sets ID,
// TrackingCode and SecretHash.
func New(town string, in Intake, reporter *Reporter, now time.Time) (*Complaint, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	due := now.Add(AcceptWithin)
	return &Complaint{Town: town, Village: in.Village, Category: in.Category, PostingID: strings.ToLower(in.Posting), Description: strings.TrimSpace(in.Description),
		Attachments: in.Attachments, Reporter: reporter, Status: StatusReceived, FiledAt: now, UpdatedAt: now, DueAt: &due}, nil
}
