package eventsv1

import "time"

// Event types of villagers' applications (一跑: "run at most once"),
// published by the workflow service on the town's workflow stream. They
// carry nothing personal: no applicant name, phone or ID number, only the
// process they belong to.
const (
	TypeApplicationFiled           = "cn.wuxiao.workflow.application.filed.v1"
	TypeApplicationMaterialsAsked  = "cn.wuxiao.workflow.application.materials-requested.v1"
	TypeApplicationSupplemented    = "cn.wuxiao.workflow.application.supplemented.v1"
	TypeApplicationAppointmentMade = "cn.wuxiao.workflow.application.appointment.v1"
)

// ApplicationFiled: a villager applied from the portal, or a cadre or the
// town's service desk filed the application on their behalf (代办).
type ApplicationFiled struct {
	InstanceRef
	// Channel is "portal" (the villager) or "on-behalf" (代办).
	Channel string `json:"channel"`
	// FiledBy is the identity id of the official who filed on the
	// villager's behalf; empty for the portal.
	FiledBy string `json:"filedBy,omitempty"`
	// Materials is the number of files the applicant provided.
	Materials int       `json:"materials"`
	FiledAt   time.Time `json:"filedAt"`
}

// ApplicationMaterialsRequested: a cadre asked, once, for everything
// missing.
type ApplicationMaterialsRequested struct {
	InstanceRef
	Missing     []string  `json:"missing"`
	RequestedBy string    `json:"requestedBy"`
	RequestedAt time.Time `json:"requestedAt"`
}

// ApplicationSupplemented: the applicant supplied missing materials online.
type ApplicationSupplemented struct {
	InstanceRef
	Materials      int       `json:"materials"`
	SupplementedAt time.Time `json:"supplementedAt"`
}

// ApplicationAppointment: a cadre told the applicant when and where to
// come, or that no visit is needed.
type ApplicationAppointment struct {
	InstanceRef
	VisitNeeded bool       `json:"visitNeeded"`
	At          *time.Time `json:"at,omitempty"`
	// Place is where to come (a public place such as the village's
	// service hall); empty when no visit is needed.
	Place      string    `json:"place,omitempty"`
	RecordedBy string    `json:"recordedBy"`
	RecordedAt time.Time `json:"recordedAt"`
}
