package v1alpha1

// ResolvedCatalog is the document the operator writes into each town's
// ConfigMap "power-catalog" (key catalog.json) and the services read from
// WUXIAO_CATALOG_FILE: the PowerCatalog's spec, with the catalog's name.
// +kubebuilder:object:generate=false
type ResolvedCatalog struct {
	Name             string `json:"name"`
	PowerCatalogSpec `json:",inline"`
}

// Item returns the item with the given id, or nil.
func (c *PowerCatalogSpec) Item(id string) *PowerItem {
	for i := range c.Items {
		if c.Items[i].ID == id {
			return &c.Items[i]
		}
	}
	return nil
}

// Step returns the step with the given id, or nil.
func (it *PowerItem) Step(id string) *Step {
	for i := range it.Steps {
		if it.Steps[i].ID == id {
			return &it.Steps[i]
		}
	}
	return nil
}

// ControlsOn returns the controls that apply to a step.
func (it *PowerItem) ControlsOn(step string) []Control {
	var out []Control
	for _, c := range it.Controls {
		if c.Step == step {
			out = append(out, c)
		}
	}
	return out
}

// Norm returns the norm with the given id, or nil.
func (it *PowerItem) Norm(id string) *Norm {
	for i := range it.Norms {
		if it.Norms[i].ID == id {
			return &it.Norms[i]
		}
	}
	return nil
}
