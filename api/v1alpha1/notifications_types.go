package v1alpha1

// NotificationsSpec lists the outbound channels through which the towns'
// inspection services deliver notifications (new tasks, reminders, overdue
// steps, escalations, notices, orders) besides the console inbox, which
// every person has anyway. The operator renders the channels, with the
// credentials read from the Secrets they name, into one Secret per town
// (NotifyChannelsSecretName, the file api/notifications.Channels) that the
// inspection pods mount; a change reaches them without a restart.
// Credentials are never written here: each channel names the Secrets that
// hold them. A missing Secret or key is reported in the condition
// NotificationsReady (District and Town); the town keeps its last good
// channels and everything else of it is still provisioned.
type NotificationsSpec struct {
	// Channels are the outbound routes; none: the console inbox alone.
	// Each has a name of its own (the API server refuses a second channel
	// of the same name as a duplicate value).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Channels []NotificationChannel `json:"channels,omitempty"`
}

// NotificationChannel is one outbound route. A message goes through it when
// its kind is among kinds (every kind when empty) and one of the roles it
// is addressed to is among roles (every role when empty).
// +kubebuilder:validation:XValidation:rule="self.type != 'email' || (has(self.email) && !has(self.dingtalk))",messageExpression="'notification channel ' + self.name + ' is of type email: give it an email section (smtpAddr, from, recipients) and no dingtalk section'"
// +kubebuilder:validation:XValidation:rule="self.type != 'dingtalk' || (has(self.dingtalk) && !has(self.email))",messageExpression="'notification channel ' + self.name + ' is of type dingtalk: give it a dingtalk section (urlSecretRef) and no email section'"
type NotificationChannel struct {
	// Name identifies the channel in delivery records, logs and metrics.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",messageExpression="'notification channel name ' + self + ' must be lower-case letters, digits and dashes, e.g. town-discipline-mail'"
	Name string `json:"name"`

	// Type is how the channel delivers: email (SMTP) or dingtalk (a
	// DingTalk/钉钉 custom robot's webhook).
	// +kubebuilder:validation:Enum=email;dingtalk
	Type string `json:"type"`

	// Roles filter by the roles a message is addressed to (the roles of
	// api/identity, e.g. town-discipline, district-discipline, secretary);
	// empty: every role.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z][-a-z]*[a-z]$')",messageExpression="'notification role ' + self + ' must be a role name (lower-case letters and dashes), e.g. town-discipline'"
	Roles []string `json:"roles,omitempty"`

	// Kinds filter by what a message is about; empty: every kind.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=6
	Kinds []NotificationKind `json:"kinds,omitempty"`

	// Email: the settings of a channel of type email.
	// +optional
	Email *EmailChannelSpec `json:"email,omitempty"`

	// DingTalk: the settings of a channel of type dingtalk.
	// +optional
	DingTalk *DingTalkChannelSpec `json:"dingtalk,omitempty"`
}

// NotificationKind is what a message is about (api/notifications.Kind):
// task (a step waits for the recipient's role), reminder (a deadline is
// near), overdue (a deadline passed), escalation, notice, order.
// +kubebuilder:validation:Enum=task;reminder;overdue;escalation;notice;order
type NotificationKind string

// EmailChannelSpec sends e-mail over SMTP to fixed addresses (office
// mailboxes); each address receives each message once.
type EmailChannelSpec struct {
	// SMTPAddr is the relay's host:port, e.g. smtp.fenghua.gov.cn:587.
	// +kubebuilder:validation:MaxLength=260
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:[0-9]{1,5}$') || self.matches('^\\\\[[0-9a-fA-F:.]+\\\\]:[0-9]{1,5}$')",messageExpression="'email.smtpAddr ' + self + ' must be the SMTP relay as host:port, e.g. smtp.fenghua.gov.cn:587'"
	// +kubebuilder:validation:XValidation:rule="!self.matches(':[0-9]{1,5}$') || (int(self.substring(self.lastIndexOf(':') + 1)) >= 1 && int(self.substring(self.lastIndexOf(':') + 1)) <= 65535)",messageExpression="'email.smtpAddr ' + self + ' has a port outside 1-65535; SMTP relays listen on 25, 465 or 587'"
	SMTPAddr string `json:"smtpAddr"`

	// From is the sender, e.g. 奉化区纪委 <jiwei@fenghua.gov.cn> or
	// jiwei@fenghua.gov.cn.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:XValidation:rule="self.matches('^[^@\\\\s<>]+@[^@\\\\s<>]+$') || self.matches('^[^<>]*<[^@\\\\s<>]+@[^@\\\\s<>]+>$')",messageExpression="'email.from ' + self + ' must be an e-mail address, e.g. jiwei@fenghua.gov.cn or 奉化区纪委 <jiwei@fenghua.gov.cn>'"
	From string `json:"from"`

	// StartTLS requires STARTTLS before authenticating or sending.
	// +optional
	StartTLS bool `json:"startTLS,omitempty"`

	// Recipients are the addresses every message of the channel goes to.
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=254
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[^@\\\\s<>]+@[^@\\\\s<>]+$')",messageExpression="'email recipient ' + self + ' must be a bare e-mail address, e.g. xikou-jiwei@fenghua.gov.cn'"
	Recipients []string `json:"recipients"`

	// CredentialsSecretRef names a Secret with the keys username and
	// password the relay authenticates (PLAIN) with; without it, no
	// authentication.
	// +optional
	CredentialsSecretRef *NotificationSecretRef `json:"credentialsSecretRef,omitempty"`
}

// DingTalkChannelSpec posts to one DingTalk (钉钉) custom robot. Its webhook
// address carries the robot's access token, so it is read from a Secret.
type DingTalkChannelSpec struct {
	// URLSecretRef names the Secret key holding the robot's webhook
	// address, e.g. https://oapi.dingtalk.com/robot/send?access_token=….
	URLSecretRef NotificationSecretKeyRef `json:"urlSecretRef"`
	// SignSecretRef names the Secret key holding the robot's signing
	// secret (加签, SEC…), when the robot was created with one.
	// +optional
	SignSecretRef *NotificationSecretKeyRef `json:"signSecretRef,omitempty"`
}

// NotificationSecretRef names a Secret; usually one in the operator's
// namespace, which only platform engineers can read.
type NotificationSecretRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// NotificationSecretKeyRef names one key of a Secret.
type NotificationSecretKeyRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data, e.g. url.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// The condition NotificationsReady, on a District and on each of its
// Towns, says whether the notification channels (District
// spec.notifications) are rendered with the credentials of every Secret
// they name. False leaves Ready as it is: the town's inspection service
// keeps its last good channels (the console inbox works regardless) and the
// rest of the town is reconciled. Alert on it.
const (
	ConditionNotificationsReady = "NotificationsReady"
	// ReasonNotificationsRendered (True): the channels are rendered, or
	// there are none (the console inbox alone).
	ReasonNotificationsRendered = "NotificationsRendered"
	// ReasonNotificationSecretNotFound (False): a Secret or key a channel
	// names does not exist; the message names the channel, the Secret and
	// the key (never a value).
	ReasonNotificationSecretNotFound = "NotificationSecretNotFound"
	// ReasonNotificationsInvalid (False): a value read from a Secret does
	// not make a valid channel (a robot address that is not an http(s)
	// URL); the message names the channel and the Secret.
	ReasonNotificationsInvalid = "NotificationsInvalid"
)

const (
	// NotificationsLabel, set to "true" on a Secret a channel names, makes
	// the operator see its edits at once; without it the operator re-reads
	// it every 10 minutes. (The operator watches only Secrets it is told
	// about.)
	NotificationsLabel = "wuxiao.io/notifications"

	// NotifyChannelsSecretName is the Secret in a town's namespace holding
	// the rendered channels (key api/notifications.SecretKey) that the
	// inspection Deployment mounts as a directory at NotifyChannelsMountPath
	// (not subPath: the kubelet updates the file in place).
	NotifyChannelsSecretName = "wuxiao-notify-channels" //nolint:gosec // the Secret's name, not a credential
	NotifyChannelsMountPath  = "/etc/wuxiao/notify"
)
