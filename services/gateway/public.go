package gateway

import "github.com/wuxiao/wuxiao/services/internal/httpapi"

// publicRoutes registers the villagers' routes: portals, report pages,
// follow-ups and Open311, each sent to its town's pods.
func (g *Gateway) publicRoutes(srv *httpapi.Server) {}
