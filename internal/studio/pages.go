package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// page is what every template gets.
type page struct {
	Title     string
	Principal string
	CSRF      string
	// Error is shown at the top of the page.
	Error string
	// Refresh reloads the page after that many seconds (a compute being
	// provisioned); 0 does not.
	Refresh int
	Data    any
}

// funcs are the templates' functions.
var funcs = template.FuncMap{
	// inc counts from 1 ("2 of 3").
	"inc": func(i int) int { return i + 1 },
	// plus places a diagram's text inside its box.
	"plus": func(a, b int) int { return a + b },
	// gib shows a VM size's memory as Azure's size pages do (14 GiB, 3.5 GiB).
	"gib": func(mib int) string { return strconv.FormatFloat(float64(mib)/1024, 'f', -1, 64) + " GiB" },
	// pageof links a resource to its page (pageOf).
	"pageof": pageOf,
}

// parsePages parses each page with the layout and the pieces pages
// share (partials.html).
func parsePages() map[string]*template.Template {
	names, _ := fs.Glob(templateFS, "templates/*.html") // the pattern is valid
	out := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		out[strings.TrimSuffix(base, ".html")] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", name))
	}
	return out
}

// render writes a page; a template that fails writes nothing of it.
func (s *Studio) render(w http.ResponseWriter, status int, name string, sess session, p page) {
	p.Principal, p.CSRF = sess.principal, sess.csrf
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("studio page failed", "page", name, "err", err)
		http.Error(w, "The studio failed to render this page; the server log says why.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// fail shows an error page for err: the API's refusal as it gave it;
// a token the API no longer accepts ends the session.
func (s *Studio) fail(w http.ResponseWriter, r *http.Request, sess session, err error) {
	var ae *armError
	if !errors.As(err, &ae) {
		s.log.Error("studio request failed", "path", r.URL.Path, "err", err)
		s.render(w, http.StatusInternalServerError, "error", sess, page{Title: "Error", Error: "The server failed to process the request; its log says why."})
		return
	}
	if ae.Status == http.StatusUnauthorized {
		s.sessions.end(sess.cookie)
		s.render(w, http.StatusUnauthorized, "signin", session{}, page{Title: "Sign in", Error: "Your token is no longer accepted (rotated or revoked): sign in again."})
		return
	}
	s.render(w, ae.Status, "error", sess, page{Title: "Error", Error: ae.Error()})
}

// home is the sign-in page, or the subscription and workspace picker.
func (s *Studio) home(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.sessionOf(r)
	if !ok {
		s.render(w, http.StatusOK, "signin", session{}, page{Title: "Sign in"})
		return
	}
	type workspace struct{ ID, Name, ResourceGroup, Location string }
	data := struct {
		Subscription string
		Recent       []string
		Workspaces   []workspace
	}{Subscription: r.URL.Query().Get("sub"), Recent: sess.recent}
	if data.Subscription == "" {
		s.render(w, http.StatusOK, "home", sess, page{Title: "Workspaces", Data: data})
		return
	}
	if !arm.IsGUID(data.Subscription) {
		s.render(w, http.StatusBadRequest, "home", sess, page{Title: "Workspaces", Data: data,
			Error: "Subscription '" + data.Subscription + "' is not a subscription id: a GUID, such as 00000000-0000-0000-0000-000000000001."})
		return
	}
	bodies, err := s.list(r, sess, "/subscriptions/"+data.Subscription+"/providers/"+resources.TypeWorkspace+"?api-version="+apiVersion(resources.TypeWorkspace))
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	s.sessions.remember(sess.cookie, data.Subscription)
	for _, b := range bodies {
		var ws struct{ ID, Name, Location string }
		if err := json.Unmarshal(b, &ws); err != nil {
			s.fail(w, r, sess, err)
			return
		}
		id, err := arm.ParseID(ws.ID, "")
		if err != nil {
			s.fail(w, r, sess, err)
			return
		}
		data.Workspaces = append(data.Workspaces, workspace{ID: id.String(), Name: ws.Name, ResourceGroup: id.ResourceGroup, Location: ws.Location})
	}
	s.render(w, http.StatusOK, "home", sess, page{Title: "Workspaces", Data: data})
}

// signIn opens a session for a valid token. The token is checked by the
// API's own authentication; a wrong one says no more than that.
func (s *Studio) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	token := strings.TrimSpace(r.PostFormValue("token"))
	probe := r.Clone(r.Context())
	probe.Header = http.Header{"Authorization": {"Bearer " + token}}
	who, err := s.api.Principal(probe)
	if token == "" || err != nil {
		s.log.Info("studio sign-in refused", "remote", r.RemoteAddr)
		s.render(w, http.StatusUnauthorized, "signin", session{}, page{Title: "Sign in", Error: "Sign-in refused: the token is not valid. Use a principal's token (securetrain principal create NAME prints one)."})
		return
	}
	// A browser that signs in again leaves its old session behind: end it.
	if old, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(old.Value)
	}
	id, err := s.sessions.create(who, token)
	if err != nil {
		s.render(w, http.StatusServiceUnavailable, "signin", session{}, page{Title: "Sign in", Error: err.Error()})
		return
	}
	s.log.Info("studio sign-in", "principal", who)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// signOut ends the session on the server and clears the cookie.
func (s *Studio) signOut(w http.ResponseWriter, r *http.Request, sess session) {
	s.sessions.end(sess.cookie)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// viewResource shows a resource's body as the API returns it: what Azure
// ML created for a compute (NSG, load balancer, public IP), a subnet.
func (s *Studio) viewResource(w http.ResponseWriter, r *http.Request, sess session) {
	id, err := arm.ParseID(r.URL.Query().Get("id"), "")
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: "id: " + err.Error()})
		return
	}
	var body any
	if err := s.get(r, sess, apiPath(id, apiVersion(id.Type())), &body); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	pretty, _ := json.MarshalIndent(body, "", "  ") // decoded JSON always encodes
	s.render(w, http.StatusOK, "resource", sess, page{Title: id.Leaf(), Data: struct{ ID, Type, JSON string }{id.String(), id.Type(), string(pretty)}})
}

// apiVersion is the newest stable api-version published for typ.
func apiVersion(typ string) string {
	versions := resources.APIVersionsOf(typ)
	if len(versions) == 0 {
		return ""
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if !strings.HasSuffix(versions[i], "-preview") {
			return versions[i]
		}
	}
	return versions[len(versions)-1]
}

// apiPath is the API's path of id, each segment escaped, with its
// api-version.
func apiPath(id arm.ID, version string) string {
	segs := strings.Split(id.String(), "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/") + "?api-version=" + url.QueryEscape(version)
}

// childPath is the API's path of leaf under parent: a collection
// ("computes") or an action ("listNodes").
func childPath(parent arm.ID, leaf, version string) string {
	p := apiPath(parent, version)
	return strings.Replace(p, "?", "/"+leaf+"?", 1)
}

// maxListPages bounds the pages a list follows (1,000 records each).
const maxListPages = 100

// list reads every page of an API list.
func (s *Studio) list(r *http.Request, sess session, path string) ([]json.RawMessage, error) {
	return listAs[json.RawMessage](s, r, sess, path)
}

// listAs reads every page of an API list, each item decoded as a T (in
// one pass over the answer: a page of 1,000 bodies is not read twice).
func listAs[T any](s *Studio, r *http.Request, sess session, path string) ([]T, error) {
	var out []T
	for range maxListPages {
		var pg struct {
			Value    []T    `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := s.get(r, sess, path, &pg); err != nil {
			return nil, err
		}
		out = append(out, pg.Value...)
		if pg.NextLink == "" {
			return out, nil
		}
		next, err := url.Parse(pg.NextLink)
		if err != nil {
			return nil, err
		}
		path = next.RequestURI()
	}
	return out, nil
}

// listPage is how many rows a page of a list (computes, jobs) shows.
const listPage = 50

// pager is a list's page: which rows it shows and the links to its
// neighbours.
type pager struct {
	// Page counts from 1; From and To are the rows shown (from 1), of
	// Total.
	Page, Pages, From, To, Total int
	Prev, Next                   string
}

// pageAsked reads ?page= (from 1; 1 when absent).
func pageAsked(r *http.Request) (int, error) {
	v := r.URL.Query().Get("page")
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("page %q: a whole number, 1 or more", v)
	}
	return n, nil
}

// paginate reads ?page= (from 1) for a list of total rows and returns the
// rows [lo, hi) it shows. A page past the end shows the last one: the
// list may have shrunk since the link was made.
func paginate(r *http.Request, total int) (lo, hi int, p pager, err error) {
	p = pager{Total: total, Pages: max(1, (total+listPage-1)/listPage)}
	if p.Page, err = pageAsked(r); err != nil {
		return 0, 0, p, err
	}
	p.Page = min(p.Page, p.Pages)
	lo, hi = (p.Page-1)*listPage, min(p.Page*listPage, total)
	p.From, p.To = min(lo+1, total), hi
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		p.Prev = link(p.Page - 1)
	}
	if p.Page < p.Pages {
		p.Next = link(p.Page + 1)
	}
	return lo, hi, p, nil
}
