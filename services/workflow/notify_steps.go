package workflow

// stepWho names a step of an instance's item and the role that records it,
// for the events that tell people they have a task or a deadline (the
// inspection service's notifications); empty when the step is unknown.
func (s *Service) stepWho(inst *Instance, step string) (name, role string) {
	if step == "" {
		return "", ""
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	if item == nil {
		return "", ""
	}
	st := item.Step(step)
	if st == nil {
		return "", ""
	}
	return st.Name, string(st.Role)
}
