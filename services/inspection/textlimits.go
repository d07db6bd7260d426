package inspection

import (
	"fmt"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

// Free-text limits of inspection's requests, checked by httpapi.DecodeJSON
// (422 naming the field and the limit): the text goes into events, pages
// and PDFs, and one unbounded field could make an event larger than Kafka
// takes. Fields validated elsewhere (integrity files, selection checks,
// category) keep their own limits.
const (
	maxNote = 2000 // descriptions, notes, evidence, responses, reasons
	maxName = 100  // people, owners, posts, situations
)

func (in FindingInput) TextLimits() []httpapi.TextLimit {
	l := []httpapi.TextLimit{httpapi.Limit("description", in.Description, maxNote)}
	for i, t := range in.Tasks {
		p := fmt.Sprintf("tasks[%d]", i)
		l = append(l, httpapi.Limit(p+".owner", t.Owner, maxName), httpapi.Limit(p+".action", t.Action, maxNote))
	}
	return l
}

func (in TaskAction) TextLimits() []httpapi.TextLimit {
	l := []httpapi.TextLimit{httpapi.Limit("note", in.Note, maxNote)}
	for i, e := range in.Evidence {
		p := fmt.Sprintf("evidence[%d]", i)
		l = append(l, httpapi.Limit(p+".text", e.Text, maxNote), httpapi.Limit(p+".url", e.URL, maxNote))
	}
	return l
}

func (in OrderRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("cadreId", in.CadreID, maxName),
		httpapi.Limit("situation", in.Situation, maxName),
		httpapi.Limit("detail", in.Detail, maxNote),
	}
}

func (in TourInput) TextLimits() []httpapi.TextLimit {
	l := []httpapi.TextLimit{httpapi.Limit("name", in.Name, 200)}
	for i, m := range in.Team {
		p := fmt.Sprintf("team[%d]", i)
		l = append(l, httpapi.Limit(p+".name", m.Name, maxName), httpapi.Limit(p+".role", m.Role, maxName))
	}
	return l
}

// interviewTooLong bounds an interview's free text (its request is not a
// named type).
func interviewTooLong(in Interview) []httpapi.FieldError {
	l := []httpapi.TextLimit{
		httpapi.Limit("cadreName", in.CadreName, maxName),
		httpapi.Limit("cadrePost", in.CadrePost, maxName),
		httpapi.Limit("reason", in.Reason, maxNote),
		httpapi.Limit("outcome", in.Outcome, maxNote),
	}
	for i, n := range in.Interviewers {
		l = append(l, httpapi.Limit(fmt.Sprintf("interviewers[%d]", i), n, maxName))
	}
	return httpapi.TooLong(l...)
}
