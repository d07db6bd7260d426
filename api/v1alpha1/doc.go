// Package v1alpha1 holds the custom resources of Wuxiao: the District, its
// Towns (cluster-scoped tenants that own a namespace each), the Villages that
// live in a town's namespace, and the PowerCatalog that lists every power a
// village cadre may exercise ("清单之外无权力").
//
// +kubebuilder:object:generate=true
// +groupName=wuxiao.io
package v1alpha1
