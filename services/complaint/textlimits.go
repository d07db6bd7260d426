package complaint

import "github.com/wuxiao/wuxiao/services/internal/httpapi"

// Free-text limits of the staff and reporter requests, checked by
// httpapi.DecodeJSON (422 naming the field and the limit): the text goes
// into events, and one unbounded field could make an event larger than
// Kafka takes. The intake's description has its own check (ValidateIntake).

// MaxActionText bounds a rejection's reason, a resolution's summary, a
// note and a feedback comment, as the note and the report page already did.
const MaxActionText = 2000

func (q actionRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("action", q.Action, 64),
		httpapi.Limit("reason", q.Reason, MaxActionText),
		httpapi.Limit("summary", q.Summary, MaxActionText),
	}
}

func (q noteRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{httpapi.Limit("body", q.Body, MaxActionText)}
}

func (q feedbackRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("secret", q.Secret, 128),
		httpapi.Limit("comment", q.Comment, MaxActionText),
	}
}
