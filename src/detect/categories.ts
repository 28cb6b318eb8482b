// The labelled captures' attack categories (ground-truth names) and the kaudit category each one is detected in.

/** The real capture's 19 categories, as kaudit names them. */
export const CATEGORY_MAP: Record<string, string> = {
  anonymous_access: 'anonymous-access',
  exceptional_user_agent: 'abnormal-user-agent',
  anonymous_permission_change: 'anonymous-permission-change',
  credential_access: 'credential-access',
  token_request: 'credential-access',
  sensitive_mount: 'sensitive-mount',
  command_execution: 'command-execution',
  port_forward: 'command-execution',
  suspicious_cronjob: 'abnormal-cronjob',
  static_pod: 'static-pod',
  suspicious_container: 'suspicious-container',
  privileged_patch: 'suspicious-container',
  cluster_admin_binding: 'rbac-escalation',
  rbac_wildcard: 'rbac-escalation',
  impersonation: 'impersonation',
  nodeport_service: 'exposure',
  admission_webhook: 'defense-evasion',
  events_deleted: 'defense-evasion',
  failed_auth_burst: 'brute-force',
};
