package studio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"securetrain/internal/arm"
	"securetrain/internal/resources"
)

// A compute's actions on its page: Resize (a cluster's scale settings),
// Stop, Start and Restart (an instance), Delete (after a confirmation). Each is
// the API's request with the principal's token, so RBAC, locks and the
// compute's state decide; the page only offers what the evaluator
// permits.

// computeOf reads a compute's id.
func computeOf(v string) (arm.ID, error) { return idOf(v, resources.TypeCompute) }

// computeActions says which of the page's actions the principal may take
// on compute id (its row: which apply to its type).
func (s *Studio) computeActions(r *http.Request, sess session, id arm.ID, row computeRow) (map[string]bool, error) {
	actions := map[string]string{"delete": resources.TypeCompute + "/delete"}
	if row.Type == resources.ComputeAml {
		actions["resize"] = computeWrite
	} else {
		actions["stop"] = resources.TypeCompute + "/stop/action"
		actions["start"] = resources.TypeCompute + "/start/action"
		actions["restart"] = resources.TypeCompute + "/restart/action"
	}
	can := map[string]bool{}
	for name, action := range actions {
		ok, err := s.api.Permitted(s.apiRequest(r, sess, http.MethodGet, "/", nil), action, id.String())
		if err != nil {
			return nil, err
		}
		can[name] = ok
	}
	return can, nil
}

// computeActionForm reads the id of the compute a form acts on; a bad
// one is answered.
func (s *Studio) computeActionForm(w http.ResponseWriter, r *http.Request, sess session) (arm.ID, bool) {
	id, err := computeOf(r.PostForm.Get("id"))
	if err != nil {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: err.Error()})
		return arm.ID{}, false
	}
	return id, true
}

// viewAfter goes to compute id's page, which shows the action's progress.
func viewAfter(w http.ResponseWriter, r *http.Request, id arm.ID) {
	http.Redirect(w, r, "/studio/compute/view?id="+url.QueryEscape(id.String()), http.StatusSeeOther)
}

// resizeCompute sets a cluster's scale settings (a PATCH, as Azure's
// studio and the SDK's Update do); the cluster resizes into them.
func (s *Studio) resizeCompute(w http.ResponseWriter, r *http.Request, sess session) {
	id, ok := s.computeActionForm(w, r, sess)
	if !ok {
		return
	}
	minRaw, maxRaw := r.PostForm.Get("minNodes"), r.PostForm.Get("maxNodes")
	lo, err := strconv.Atoi(minRaw)
	if err != nil || lo < 0 {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: fmt.Sprintf("Minimum number of nodes %q: a whole number, 0 or more", minRaw)})
		return
	}
	hi, err := strconv.Atoi(maxRaw)
	if err != nil || hi < 1 || hi < lo {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error", Error: fmt.Sprintf("Maximum number of nodes %q: a whole number, 1 or more and at least the minimum, %d", maxRaw, lo)})
		return
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"properties": map[string]any{ // a map of ints always encodes
		"scaleSettings": map[string]any{"minNodeCount": lo, "maxNodeCount": hi}}}})
	if err := decodeAnswer(s.call(r, sess, http.MethodPatch, apiPath(id, apiVersion(resources.TypeCompute)), body), nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	viewAfter(w, r, id)
}

// powerCompute stops, starts or restarts an instance (Azure's POST
// …/stop, …/start and …/restart); the page shows Stopping, Starting or
// Restarting until it is done.
func (s *Studio) powerCompute(action string) func(http.ResponseWriter, *http.Request, session) {
	return func(w http.ResponseWriter, r *http.Request, sess session) {
		id, ok := s.computeActionForm(w, r, sess)
		if !ok {
			return
		}
		if err := decodeAnswer(s.call(r, sess, http.MethodPost, childPath(id, action, apiVersion(resources.TypeCompute)), nil), nil); err != nil {
			s.fail(w, r, sess, err)
			return
		}
		viewAfter(w, r, id)
	}
}

// deleteCompute deletes a compute and what Azure ML created for it
// (underlyingResourceAction=Delete, as Azure's studio does) once the
// form's "I understand" box is ticked, and goes to the workspace's
// compute list, where it shows Deleting until it is gone.
func (s *Studio) deleteCompute(w http.ResponseWriter, r *http.Request, sess session) {
	id, ok := s.computeActionForm(w, r, sess)
	if !ok {
		return
	}
	if r.PostForm.Get("confirm") != "on" {
		s.render(w, http.StatusBadRequest, "error", sess, page{Title: "Error",
			Error: fmt.Sprintf("Compute %s was not deleted: tick \"I understand\" to confirm that its nodes and what Azure ML created for it are deleted.", id.Leaf())})
		return
	}
	path := apiPath(id, apiVersion(resources.TypeCompute)) + "&underlyingResourceAction=Delete"
	if err := decodeAnswer(s.call(r, sess, http.MethodDelete, path, nil), nil); err != nil {
		s.fail(w, r, sess, err)
		return
	}
	ws, _ := id.Parent()
	tab := "instances"
	if r.PostForm.Get("type") == resources.ComputeAml {
		tab = "clusters"
	}
	http.Redirect(w, r, "/studio/compute?ws="+url.QueryEscape(ws.String())+"&tab="+tab, http.StatusSeeOther)
}
