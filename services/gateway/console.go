package gateway

import "github.com/wuxiao/wuxiao/services/internal/httpapi"

// consoleRoutes registers the staff console (/console).
func (g *Gateway) consoleRoutes(srv *httpapi.Server) {}
