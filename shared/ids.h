/* Random identifiers in the shapes the contract uses. */
#ifndef EXECD_IDS_H
#define EXECD_IDS_H

#define IDS_HEX_LEN 32
#define IDS_DASHED_LEN 36

/* UUIDv4 as 32 lowercase hex chars (command ids). out holds 33 bytes. */
void ids_uuid_hex(char *out);
/* UUIDv4 in the dashed 8-4-4-4-12 form (contexts, sessions). out holds 37 bytes. */
void ids_uuid_dashed(char *out);

#endif
