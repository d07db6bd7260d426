package gateway

import "github.com/wuxiao/wuxiao/services/internal/httpapi"

// authRoutes registers the sign-in pages (/auth/*) and Kratos' public API
// on the same origin (KratosPathPrefix).
func (g *Gateway) authRoutes(srv *httpapi.Server) {}
