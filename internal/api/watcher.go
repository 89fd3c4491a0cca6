package api

import "net/http"

// watcherRoute serves Network Watcher actions (POST
// .../providers/Microsoft.Network/networkWatchers/{name}/{action}).
func (s *Server) watcherRoute(w http.ResponseWriter, r *http.Request, who string, p resourcePath) error {
	return newError(http.StatusNotFound, "InvalidResourceType", "Network Watcher action '%s' is not supported yet.", p.types[1])
}
