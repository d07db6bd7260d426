package workflow

import "github.com/wuxiao/wuxiao/services/internal/flowchart"

// "One matter, one process, one flowchart" (一事一流程一图表): every item is
// drawn from its steps (see package flowchart), and an instance's drawing
// marks where it stands.

// StatesOf returns the state of every step an instance has visited.
func StatesOf(inst *Instance) map[string]flowchart.StepState {
	st := map[string]flowchart.StepState{}
	for _, r := range inst.Steps {
		if r.CompletedAt != nil {
			st[r.StepID] = flowchart.StateDone
		}
	}
	if inst.Current != "" {
		st[inst.Current] = flowchart.StateCurrent
	}
	return st
}
