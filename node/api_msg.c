/* api_msg.c - descriptor tables for the local API (see api_msg.h). */
#include "node/api_msg.h"

WIRE_DEFINE_RECORD (api_addr, 0, API_ADDR_FIELDS)
WIRE_DEFINE_RECORD (api_keynode, 0, API_KEYNODE_FIELDS)
WIRE_DEFINE_RECORD (api_staterec, 0, API_STATEREC_FIELDS)
WIRE_DEFINE_RECORD (api_svc, 0, API_SVC_FIELDS)
WIRE_DEFINE_RECORD (api_agent, 0, API_AGENT_FIELDS)
WIRE_DEFINE_PROTO (api, API_MESSAGES, API_VERSION_MIN, API_VERSION, NULL)
