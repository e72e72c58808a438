// hfconfig.c: Hugging Face ViT config.json reader (cJSON). See hfconfig.h.
#include "hfconfig.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define HF_MAX_DIM (1 << 20)   // no real ViT comes near; bounds later allocations

// A positive integer field (or, for square sizes, a list of two equal ones). 1 if absent.
static int hf_int(const cJSON* root, const char* key, int allow_pair, int* out, const char* path, fl_err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return 1;
    if (allow_pair && cJSON_IsArray(v)) {
        int n = cJSON_GetArraySize(v);
        const cJSON* a = cJSON_GetArrayItem(v, 0);
        const cJSON* b = cJSON_GetArrayItem(v, 1);
        if (n != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b))
            return fl_fail(err, "%s: config field '%s' is a list that is not [height, width], expected an integer", path, key);
        if (a->valuedouble != b->valuedouble)
            return fl_fail(err, "%s: config field '%s' is [%g, %g], expected a square size (equal height and width)",
                           path, key, a->valuedouble, b->valuedouble);
        v = a;
    }
    if (!cJSON_IsNumber(v)) {
        char* txt = cJSON_PrintUnformatted(v);
        int rc = fl_fail(err, "%s: config field '%s' is %.60s, expected a positive integer", path, key, txt ? txt : "?");
        cJSON_free(txt);
        return rc;
    }
    double d = v->valuedouble;
    if (!(d >= 1 && d <= HF_MAX_DIM) || d != floor(d))
        return fl_fail(err, "%s: config field '%s' is %g, expected a positive integer at most %d", path, key, d, HF_MAX_DIM);
    *out = (int)d;
    return 0;
}

static void hf_note_default(fl_vit_hfconfig* cfg, const char* key) {
    size_t at = strlen(cfg->defaults_used);
    snprintf(cfg->defaults_used + at, sizeof cfg->defaults_used - at, "%s%s", at ? ", " : "", key);
}

static int hf_parse(const cJSON* root, fl_vit_hfconfig* cfg, const char* path, fl_err* err) {
    if (!cJSON_IsObject(root)) return fl_fail(err, "%s: config.json is not a JSON object", path);
    const cJSON* mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "vit") != 0))
        return fl_fail(err, "%s: config field 'model_type' is %s%.40s%s, expected \"vit\"", path,
                       cJSON_IsString(mt) ? "\"" : "", cJSON_IsString(mt) ? mt->valuestring : "not a string",
                       cJSON_IsString(mt) ? "\"" : "");
    struct {
        const char* key;
        int* dst;
        int pair;
    } req[] = {
        {"image_size", &cfg->image_size, 1},           {"patch_size", &cfg->patch_size, 1},
        {"num_channels", &cfg->num_channels, 0},       {"hidden_size", &cfg->hidden_size, 0},
        {"num_hidden_layers", &cfg->num_hidden_layers, 0}, {"num_attention_heads", &cfg->num_attention_heads, 0},
        {"intermediate_size", &cfg->intermediate_size, 0},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        int rc = hf_int(root, req[i].key, req[i].pair, req[i].dst, path, err);
        if (rc < 0) return -1;
        if (rc == 1)
            return fl_fail(err, "%s: config field '%s' is missing (a ViT config.json needs image_size, patch_size, "
                           "num_channels, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size)",
                           path, req[i].key);
    }
    if (cfg->image_size % cfg->patch_size != 0)
        return fl_fail(err, "%s: config image_size %d is not a multiple of patch_size %d", path, cfg->image_size,
                       cfg->patch_size);
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
        return fl_fail(err, "%s: config hidden_size %d is not a multiple of num_attention_heads %d", path,
                       cfg->hidden_size, cfg->num_attention_heads);

    const cJSON* eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if (!eps) {
        cfg->layer_norm_eps = 1e-12f;
        hf_note_default(cfg, "layer_norm_eps");
    } else if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !isfinite(eps->valuedouble) || eps->valuedouble > 1) {
        return fl_fail(err, "%s: config field 'layer_norm_eps' is %s, expected a number in (0, 1]", path,
                       cJSON_IsNumber(eps) ? "out of range" : "not a number");
    } else {
        cfg->layer_norm_eps = (float)eps->valuedouble;
    }

    const cJSON* act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (!act) {
        snprintf(cfg->hidden_act, sizeof cfg->hidden_act, "gelu");
        hf_note_default(cfg, "hidden_act");
    } else if (!cJSON_IsString(act)) {
        return fl_fail(err, "%s: config field 'hidden_act' is not a string, expected \"gelu\"", path);
    } else if (strcmp(act->valuestring, "gelu") != 0) {
        return fl_fail(err, "%s: config field 'hidden_act' is \"%.40s\", expected \"gelu\" (exact erf GELU, the only "
                       "activation the ViT implements)", path, act->valuestring);
    } else {
        snprintf(cfg->hidden_act, sizeof cfg->hidden_act, "gelu");
    }

    const cJSON* qkv = cJSON_GetObjectItemCaseSensitive(root, "qkv_bias");
    if (!qkv) {
        cfg->qkv_bias = 1;
        hf_note_default(cfg, "qkv_bias");
    } else if (!cJSON_IsBool(qkv)) {
        return fl_fail(err, "%s: config field 'qkv_bias' is not true or false", path);
    } else {
        cfg->qkv_bias = cJSON_IsTrue(qkv) ? 1 : 0;
    }

    int from_id2label = 0;
    const cJSON* id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    if (id2label) {
        if (!cJSON_IsObject(id2label)) return fl_fail(err, "%s: config field 'id2label' is not a JSON object", path);
        from_id2label = cJSON_GetArraySize(id2label);
        if (from_id2label < 1) return fl_fail(err, "%s: config field 'id2label' is empty, expected at least 1 label", path);
    }
    int n = 0;
    int rc = hf_int(root, "num_labels", 0, &n, path, err);
    if (rc < 0) return -1;
    if (rc == 0 && from_id2label && n != from_id2label)
        return fl_fail(err, "%s: config num_labels is %d but id2label has %d entries", path, n, from_id2label);
    cfg->num_labels = rc == 0 ? n : from_id2label;
    return 0;
}

int fl_vit_hfconfig_read(const char* path, fl_vit_hfconfig* cfg, fl_err* err) {
    memset(cfg, 0, sizeof *cfg);
    char file[4096];
    struct stat sb;
    if (stat(path, &sb) != 0) return fl_fail(err, "%s: cannot read ViT config: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        if ((size_t)snprintf(file, sizeof file, "%s/config.json", path) >= sizeof file)
            return fl_fail(err, "%s: path too long", path);
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    FILE* f = fopen(file, "rb");
    if (!f) return fl_fail(err, "%s: cannot open ViT config: %s", file, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return fl_fail(err, "%s: cannot seek in ViT config", file);
    }
    long size = ftell(f);
    if (size < 0 || size > (1L << 24)) {
        fclose(f);
        return fl_fail(err, "%s: ViT config is %ld bytes, expected a JSON file under 16 MiB", file, size);
    }
    rewind(f);
    char* text = fl_malloc((size_t)size + 1);
    size_t got = fread(text, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(text);
        return fl_fail(err, "%s: read error in ViT config (%zu of %ld bytes)", file, got, size);
    }
    text[size] = '\0';
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, (size_t)size, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : (size_t)size;
        free(text);
        return fl_fail(err, "%s: ViT config is not valid JSON: parse error at byte offset %zu", file, at);
    }
    int rc = hf_parse(root, cfg, file, err);
    cJSON_Delete(root);
    free(text);
    return rc;
}
