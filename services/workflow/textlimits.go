package workflow

import "github.com/wuxiao/wuxiao/services/internal/httpapi"

// TextLimits bounds the evidence's text (httpapi.DecodeJSON answers 422
// beyond): without it a link of a mebibyte went into the instance and its
// events (found by FuzzDecodeRequests).
func (r EvidenceRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("stepId", r.StepID, 128),
		httpapi.Limit("kind", r.Kind, 64),
		httpapi.Limit("name", r.Name, httpapi.MaxShortText),
		httpapi.Limit("url", r.URL, 2048),
		httpapi.Limit("sha256", r.SHA256, 64),
	}
}
