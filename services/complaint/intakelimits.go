package complaint

// Input limits of the anonymous intake, the last abuse guard:
// ValidateIntake checks description length and attachment count, size and
// sniffed content type.

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

// Intake limits.
const (
	IntakeMinDescriptionRunes = 10
	IntakeMaxDescriptionRunes = 2000
	IntakeMaxFiles            = 3
	IntakeMaxFileBytes        = 5 << 20
	// IntakeMaxBodyBytes is a suitable http.MaxBytesReader limit for the
	// whole multipart request.
	IntakeMaxBodyBytes = IntakeMaxFiles*IntakeMaxFileBytes + 64<<10
)

// IntakeFileTypes are the sniffed types accepted.
var IntakeFileTypes = []string{"image/jpeg", "image/png", "application/pdf"}

// IntakeFile describes one uploaded file. Head is (at least) the first 512
// bytes of the content; the declared content type is deliberately not used.
type IntakeFile struct {
	Name string
	Size int64
	Head []byte
	// Unclean: its metadata (a photo's GPS position, a PDF's author)
	// could not be removed, so it is not stored (services/internal/media).
	Unclean bool
}

// IntakeLimitsInput is the part of an anonymous submission checked here.
type IntakeLimitsInput struct {
	Description string
	Files       []IntakeFile
}

// ValidateIntakeDescription checks that the trimmed description is valid UTF-8 of
// IntakeMinDescriptionRunes..IntakeMaxDescriptionRunes runes.
func ValidateIntakeDescription(s string) *domainerr.FieldError {
	if !utf8.ValidString(s) {
		return &domainerr.FieldError{Field: "description", Code: "description_invalid_encoding", Message: "问题描述包含无法识别的字符"}
	}
	n := utf8.RuneCountInString(strings.TrimSpace(s))
	switch {
	case n < IntakeMinDescriptionRunes:
		return &domainerr.FieldError{Field: "description", Code: "description_too_short",
			Message: fmt.Sprintf("问题描述至少需要%d个字（当前%d个字）", IntakeMinDescriptionRunes, n)}
	case n > IntakeMaxDescriptionRunes:
		return &domainerr.FieldError{Field: "description", Code: "description_too_long",
			Message: fmt.Sprintf("问题描述最多%d个字（当前%d个字）", IntakeMaxDescriptionRunes, n)}
	}
	return nil
}

// ValidateIntakeFile checks one attachment's size and sniffed type. i is its
// zero-based position, used in the field name ("attachments[i]").
func ValidateIntakeFile(i int, a IntakeFile) *domainerr.FieldError {
	field := fmt.Sprintf("attachments[%d]", i)
	if a.Unclean {
		return &domainerr.FieldError{Field: field, Code: "attachment_metadata", Message: fmt.Sprintf(
			"第%d个附件无法处理：无法去除其中的拍摄位置、作者等信息。请换一个文件，例如截图后上传，或将PDF另存为新文件（不加密）后上传", i+1)}
	}
	if a.Size <= 0 || len(a.Head) == 0 {
		return &domainerr.FieldError{Field: field, Code: "attachment_empty", Message: fmt.Sprintf("第%d个附件是空文件", i+1)}
	}
	if a.Size > IntakeMaxFileBytes {
		return &domainerr.FieldError{Field: field, Code: "attachment_too_large",
			Message: fmt.Sprintf("第%d个附件超过%dMB的大小限制", i+1, IntakeMaxFileBytes>>20)}
	}
	head := a.Head
	if len(head) > 512 {
		head = head[:512]
	}
	ct := sniffIntakeType(head)
	for _, ok := range IntakeFileTypes {
		if ct == ok {
			return nil
		}
	}
	return &domainerr.FieldError{Field: field, Code: "attachment_type_not_allowed",
		Message: fmt.Sprintf("第%d个附件格式不支持，只能上传JPG、PNG图片或PDF文件", i+1)}
}

// sniffIntakeType returns the media type (without parameters) that
// http.DetectContentType finds in head.
func sniffIntakeType(head []byte) string {
	ct := http.DetectContentType(head)
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// ValidateIntake checks description and attachments and returns all problems
// as domainerr.FieldErrors, or nil.
func ValidateIntake(in IntakeLimitsInput) error {
	var errs domainerr.FieldErrors
	if e := ValidateIntakeDescription(in.Description); e != nil {
		errs = append(errs, e)
	}
	errs = append(errs, ValidateIntakeFiles(in.Files)...)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// ValidateIntakeFiles checks the number of files and each of the first
// IntakeMaxFiles; nil when all is well.
func ValidateIntakeFiles(files []IntakeFile) domainerr.FieldErrors {
	var errs domainerr.FieldErrors
	if len(files) > IntakeMaxFiles {
		errs = append(errs, &domainerr.FieldError{Field: "attachments", Code: "too_many_attachments",
			Message: fmt.Sprintf("最多只能上传%d个附件（当前%d个）", IntakeMaxFiles, len(files))})
	}
	for i, a := range files {
		if i >= IntakeMaxFiles {
			break
		}
		if e := ValidateIntakeFile(i, a); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}
