package ghlsim

import (
	"html/template"
	"net/http"
	"net/url"

	"github.com/hlrz/hlrz/internal/usercontext"
)

// SetCustomPageURL sets the app's Custom Page that GET /custom-page embeds.
func (s *Server) SetCustomPageURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.CustomPageURL = u
}

// CustomPageUser is the user the stand-in frame says is looking at location loc.
func (s *Server) CustomPageUser(loc string) usercontext.User {
	return usercontext.User{
		UserID: "simUser0000000000001", CompanyID: s.opts.CompanyID, Role: "admin", Type: "account",
		ActiveLocation: loc, UserName: "Demo Owner", Email: "owner@demo-gym.example",
	}
}

var framePage = template.Must(template.New("frame").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HighLevel (simulator) · {{.Location}}</title>
<style>body{margin:0;font-family:system-ui,sans-serif;background:#0f172a;display:flex;flex-direction:column;height:100vh}
header{color:#e2e8f0;padding:10px 16px;font-size:14px}header b{color:#fff}
iframe{flex:1;border:0;background:#fff;margin:0 12px 12px;border-radius:8px}</style></head>
<body><header><b>HighLevel simulator</b> · sub-account {{.Location}} · the app's Custom Page below is told who you are with an encrypted user context</header>
<iframe id="app" src="{{.AppURL}}" title="Referrizer sync"></iframe>
<script>
(function () {
  var payload = {{.Payload}}, appOrigin = {{.AppOrigin}};
  var frame = document.getElementById("app");
  window.addEventListener("message", function (ev) {
    if (ev.source !== frame.contentWindow || ev.origin !== appOrigin) { return; }
    if (ev.data && ev.data.message === "REQUEST_USER_DATA") {
      frame.contentWindow.postMessage({message: "REQUEST_USER_DATA_RESPONSE", payload: payload}, appOrigin);
    }
  });
})();
</script></body></html>`))

// serveCustomPage is a stand-in for HighLevel showing a marketplace app's Custom Page: it
// embeds the page and answers its REQUEST_USER_DATA with the user context encrypted as
// HighLevel does (usercontext.Encrypt, the app's Shared Secret). ?location= picks the
// sub-account being viewed (default: the default install location).
func (s *Server) serveCustomPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	appURL, secret, loc := s.opts.CustomPageURL, s.opts.SharedSecret, s.opts.DefaultLocationID
	s.mu.Unlock()
	if q := r.URL.Query().Get("location"); q != "" {
		loc = q
	}
	u, err := url.Parse(appURL)
	if appURL == "" || err != nil || u.Host == "" {
		http.Error(w, "no Custom Page URL configured", http.StatusNotFound)
		return
	}
	payload, err := usercontext.Encrypt(s.CustomPageUser(loc), secret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = framePage.Execute(w, map[string]string{
		"Location": loc, "AppURL": appURL, "AppOrigin": u.Scheme + "://" + u.Host, "Payload": payload,
	})
}
