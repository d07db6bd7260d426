package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
)

// DecodeJSON reads the request body into v, strictly: the Content-Type must
// be application/json (or a +json type such as application/merge-patch+json),
// the body must hold exactly one JSON value, and every member must be a
// field of v; if v is TextLimited, its free-text fields must fit their
// limits (else 422 naming each field and its limit). On failure it writes the problem response and returns false;
// the handler then just returns.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if p := decodeJSON(r, v); p != nil {
		if p.Status == http.StatusUnsupportedMediaType {
			w.Header().Set("Accept", "application/json")
		}
		WriteProblem(w, r, p)
		return false
	}
	if tl, ok := v.(TextLimited); ok {
		return CheckText(w, r, tl.TextLimits()...)
	}
	return true
}

func decodeJSON(r *http.Request, v any) *Problem {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && (!strings.HasPrefix(mt, "application/") || !strings.HasSuffix(mt, "+json"))) {
		return UnsupportedMediaType(ct)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return BadRequest("The request body is empty; send a JSON value.")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(err)
	}
	// Exactly one value: anything but whitespace after it is an error.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return BodyTooLarge(mbe.Limit)
		}
		return (&Problem{Type: TypeMalformedJSON, Title: "Malformed JSON", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("unexpected data after the JSON value at offset %d", dec.InputOffset())}).
			With("offset", dec.InputOffset())
	}
	return nil
}

func decodeProblem(err error) *Problem {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		mbe    *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return BodyTooLarge(mbe.Limit)
	case errors.Is(err, io.EOF):
		return BadRequest("The request body is empty; send a JSON value.")
	case errors.As(err, &syntax):
		return (&Problem{Type: TypeMalformedJSON, Title: "Malformed JSON", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s at offset %d", strings.TrimPrefix(syntax.Error(), "json: "), syntax.Offset)}).
			With("offset", syntax.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Problem{Type: TypeMalformedJSON, Title: "Malformed JSON", Status: http.StatusBadRequest,
			Detail: "the body ends in the middle of a JSON value"}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(the body)"
		}
		return (&Problem{Type: TypeInvalidFieldType, Title: "Invalid field type", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%s: expected %s, got JSON %s", field, jsonKind(typ.Type), typ.Value)}).
			With("field", typ.Field).With("offset", typ.Offset)
	}
	// encoding/json reports unknown fields only as text: `json: unknown field "x"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return (&Problem{Type: TypeUnknownField, Title: "Unknown field", Status: http.StatusBadRequest,
			Detail: fmt.Sprintf("%q is not a field of this request", name)}).With("field", name)
	}
	// A client that stops sending, or a value that rejects itself
	// (a custom UnmarshalJSON).
	return BadRequest(err.Error())
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// WriteItems answers 200 with a list as {"items": [...]}, the shape of every
// list the services serve; a nil list is written as [] (never null).
func WriteItems[T any](w http.ResponseWriter, list []T) error {
	if list == nil {
		list = []T{}
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"items": list})
}

// WriteJSON writes v as JSON with the given status. A value that does not
// marshal is a programming error: the client gets a bare 500 and the error
// is returned for the caller to log.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"type":"`+TypeInternal+`","title":"Internal server error","status":500}`+"\n")
		return fmt.Errorf("encoding %T: %w", v, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}
