/* lm/chat.h — the Llama 3.1/3.2 chat format (SPEC §1.9), as token ids.
 *
 *   <|begin_of_text|>
 *   <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>   per message
 *   <|start_header_id|>assistant<|end_header_id|>\n\n                   generation prompt
 *
 * Built from ids, as Meta's ChatFormat does (header and content encoded
 * separately, content stripped of surrounding whitespace), never by
 * tokenizing a rendered string: special-token names typed inside a message
 * stay ordinary text, so a user cannot forge a turn.
 */
#ifndef HD_CHAT_H
#define HD_CHAT_H

#include "core/error.h"
#include "lm/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hd_chat_role {
    HD_CHAT_SYSTEM = 0,
    HD_CHAT_USER,
    HD_CHAT_ASSISTANT,
    HD_CHAT_IPYTHON,    /* tool results */
} hd_chat_role;

const char *hd_chat_role_name(hd_chat_role r);   /* "system", "user", ... */

typedef struct hd_chat_message {
    hd_chat_role role;
    const char *content;   /* UTF-8, NUL-terminated */
} hd_chat_message;

/* A growable list of token ids; zero-initialise, free with hd_tokens_free. */
typedef struct hd_tokens {
    int32_t *ids;
    size_t n, cap;
} hd_tokens;

hd_status hd_tokens_push(hd_tokens *t, const int32_t *ids, size_t n, hd_error *err);
void hd_tokens_free(hd_tokens *t);   /* frees ids, leaves an empty list */

/* Appends <|start_header_id|>role<|end_header_id|>\n\n. */
hd_status hd_chat_encode_header(const hd_tokenizer *tok, hd_chat_role role, hd_tokens *out, hd_error *err);
/* Appends the header, the stripped content and <|eot_id|>. */
hd_status hd_chat_encode_message(const hd_tokenizer *tok, const hd_chat_message *m, hd_tokens *out,
                                 hd_error *err);
/* Appends <|begin_of_text|>, every message, and the assistant header. */
hd_status hd_chat_encode_dialog(const hd_tokenizer *tok, const hd_chat_message *msgs, size_t n, hd_tokens *out,
                                hd_error *err);

#ifdef __cplusplus
}
#endif
#endif
