package posters

import (
	"fmt"
	"io"
	"time"

	"github.com/signintech/gopdf"
)

// Handover is one official's hand-over sheet: how to sign in the first
// time. It holds a credential: print it, hand it over in person, and never
// log it.
type Handover struct {
	Village     string // display name
	VillageCode string
	Name        string
	Role        string // in Chinese, e.g. 党组织书记
	Login       string
	// Link and Code are the first sign-in link and one-time code; empty
	// when there is none to hand over (Note says why).
	Link      string
	Code      string
	ExpiresAt time.Time
	Note      string
}

var beijing = time.FixedZone("北京时间", 8*3600)

// RenderHandover writes one A4 page per official.
func RenderHandover(w io.Writer, fontData []byte, sheets []Handover) error {
	if len(sheets) == 0 {
		return fmt.Errorf("no official to hand over")
	}
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	pdf.SetInfo(gopdf.PdfInfo{Title: "账号交接单", Creator: "kubectl-wuxiao"})
	if err := pdf.AddTTFFontData(font, fontData); err != nil {
		return fmt.Errorf("the font cannot be embedded: %w", err)
	}
	if err := pdf.SetFont(font, "", 12); err != nil {
		return err
	}
	d := &drawer{pdf: pdf}
	for _, s := range sheets {
		pdf.AddPage()
		d.handover(s)
	}
	if d.err != nil {
		return d.err
	}
	_, err := pdf.WriteTo(w)
	return err
}

// left writes s with its top at y from x.
func (d *drawer) left(s string, size, x, y float64) {
	if d.err != nil {
		return
	}
	if d.err = d.pdf.SetFontSize(size); d.err != nil {
		return
	}
	d.pdf.SetXY(x, y+0.88*size)
	d.err = d.pdf.Text(s)
}

func (d *drawer) handover(s Handover) {
	cx := pageW / 2
	const x = 70.0
	d.text("五小监督平台 · 账号交接单", 24, cx, 60)
	d.text(s.Village+"（"+s.VillageCode+"）", 16, cx, 100)
	y := 150.0
	for _, kv := range [][2]string{{"姓名", s.Name}, {"职务", s.Role}, {"登录名", s.Login}} {
		d.left(kv[0]+"："+kv[1], 14, x, y)
		y += 28
	}
	if s.Code == "" {
		d.left("首次登录：无可交接的一次性验证码。", 14, x, y+10)
		d.left(s.Note, 12, x, y+40)
		return
	}
	d.left("一次性验证码：", 14, x, y+10)
	d.left(s.Code, 30, x+100, y)
	d.left("有效期至："+s.ExpiresAt.In(beijing).Format("2006年1月2日 15:04")+"（北京时间），只能使用一次", 12, x, y+48)
	d.qr(s.Link, cx-90, y+75, 180)
	d.text("用手机扫码，或在浏览器打开：", 11, cx, y+262)
	d.text(s.Link, 8, cx, y+280)
	y += 310
	for _, line := range []string{
		"1. 扫码或打开上面的链接，输入一次性验证码；",
		"2. 设置自己的密码，以后用登录名和密码登录；",
		"3. 验证码失效或遗失，请找镇里的 IT 人员重新签发。",
		"请当面交给本人。本单含登录凭据，不要拍照外传，用后销毁。",
	} {
		d.left(line, 12, x, y)
		y += 22
	}
	d.left("交接人签字：____________    接收人签字：____________    日期：__________", 11, x, 770)
}
