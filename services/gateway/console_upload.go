package gateway

import (
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
)

// uploadEvidence passes a file from the browser's form to the workflow
// service's upload route as it arrives: the gateway never holds the whole
// file. The form's first field must be the CSRF token (the template puts
// it first), so that nothing is sent on before the token is checked.
func (g *Gateway) uploadEvidence(c *consoleReq) {
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到这个流程。")
		return
	}
	mr, err := c.r.MultipartReader()
	if err != nil {
		c.fail(http.StatusBadRequest, "请选择文件后再上传。")
		return
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "csrf" {
		c.fail(http.StatusForbidden, "页面已过期或登录已变更，请返回上一页刷新后重新提交。")
		return
	}
	token, _ := io.ReadAll(io.LimitReader(first, 256))
	if !c.csrfOK(string(token)) {
		c.fail(http.StatusForbidden, "页面已过期或登录已变更，请返回上一页刷新后重新提交。")
		return
	}

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := relayParts(mr, mw)
		if err == nil {
			err = mw.Close()
		}
		_ = pw.CloseWithError(err)
	}()
	var f struct {
		Name string `json:"name"`
	}
	err = c.svc(ServiceWorkflow).do(c.r.Context(), http.MethodPost, "/v1/instances/"+id+"/evidence/files", mw.FormDataContentType(), pr, &f)
	// The service may answer before reading everything (a refusal): stop
	// the relay and wait for it, so that the request body is not read
	// after this handler returns.
	_ = pr.Close()
	<-done
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || strings.Contains(err.Error(), "http: request body too large") {
			g.processError(c, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "workflow/file-too-large", Title: "File too large"}, nil)
			return
		}
		g.processError(c, err, nil)
		return
	}
	http.Redirect(c.w, c.r, "/console/processes/"+id+"?ok=evidence", http.StatusSeeOther)
}

// relayParts copies the form's stepId, kind and file to the service's form.
func relayParts(mr *multipart.Reader, mw *multipart.Writer) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch part.FormName() {
		case "stepId", "kind":
			v, err := io.ReadAll(io.LimitReader(part, 256))
			if err != nil {
				return err
			}
			if err := mw.WriteField(part.FormName(), string(v)); err != nil {
				return err
			}
		case "file":
			if part.FileName() == "" {
				// No file chosen: browsers send an empty, nameless part.
				continue
			}
			fw, err := mw.CreateFormFile("file", part.FileName())
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, part); err != nil {
				return err
			}
		}
	}
}
