package dev.camkit.core

import com.google.gson.JsonObject
import java.io.File

/** How a uint8 tensor maps to values: `value = (stored - zeroPoint) * scale`. */
data class Quantization(val scale: Double, val zeroPoint: Int) {
    /** Scale 1/255 and zero point 0: the stored byte is the pixel itself. */
    val isPixelBytes: Boolean get() = zeroPoint == 0 && Math.abs(scale * 255.0 - 1.0) < 1e-9
}

/**
 * One tensor of an artifact as its manifest describes it (`io.inputs[]` / `io.outputs[]`).
 * [shape] is batch-first, 4-D; a dynamic dimension (JSON null) is -1. [valueRange] null means
 * unbounded (a statistics vector). [role]: image, mask, thumbnail, statistics, features;
 * [of]: the input a thumbnail or statistics input is made from.
 */
data class TensorIo(
    val name: String,
    val shape: List<Int>,
    val dtype: String,
    val quantization: Quantization?,
    val layout: String,
    val valueRange: List<Double>?,
    val colorSpace: String?,
    val role: String,
    val of: String?,
) {
    /** Channels (C of NCHW or NHWC). */
    val channels: Int get() = if (layout == "nchw") shape[1] else shape[3]

    /** Height; -1 when dynamic. */
    val height: Int get() = if (layout == "nchw") shape[2] else shape[1]

    /** Width; -1 when dynamic. */
    val width: Int get() = if (layout == "nchw") shape[3] else shape[2]

    companion object {
        /** The layouts the app can feed. */
        val LAYOUTS = listOf("nchw", "nhwc")

        /** The dtypes the app can feed. */
        val DTYPES = listOf("float32", "uint8")

        /** A manifest tensor entry, refused when the app cannot feed or read it. */
        fun parse(obj: JsonObject, where: String): TensorIo {
            val name = Json.string(obj, "name", where)
            val at = "tensor '$name' of $where"
            val layout = Json.string(obj, "layout", at)
            ensure(layout in LAYOUTS) {
                "$at has layout '$layout'; the app feeds ${LAYOUTS.joinToString(" or ")}: re-export with --layout nchw or nhwc"
            }
            val dtype = Json.string(obj, "dtype", at)
            ensure(dtype in DTYPES) {
                "$at has dtype '$dtype'; the app feeds ${DTYPES.joinToString(" or ")}: re-export with --io-dtype float32 or uint8"
            }
            val quantization = Json.objOrNull(obj, "quantization", at)?.let {
                Quantization(Json.double(it, "scale", "$at quantization"), Json.int(it, "zero_point", "$at quantization"))
            }
            ensure(dtype != "uint8" || quantization != null) {
                "$at is uint8 without a quantization (scale, zero_point); re-export it with this camkit"
            }
            val shape = Json.ints(obj, "shape", at, nullAs = -1)
            ensure(shape.size == 4 && shape[0] == 1) { "$at has shape $shape; the app feeds 4-D tensors of batch 1" }
            val range = Json.arrayOrNull(obj, "value_range", at)?.map { it.asDouble }
            return TensorIo(
                name, shape, dtype, quantization, layout, range, Json.stringOrNull(obj, "color_space", at),
                Json.stringOrNull(obj, "role", at) ?: "image", Json.stringOrNull(obj, "of", at),
            )
        }

        /** A manifest's `io` list under [key] ("inputs" or "outputs"). */
        internal fun parseList(io: JsonObject, key: String, where: String): List<TensorIo> =
            Json.array(io, key, where).map {
                ensure(it.isJsonObject) { "$where: io.$key must list objects, got $it" }
                parse(it.asJsonObject, where)
            }
    }
}

/**
 * A camkit manifest (`<artifact>.manifest.json`, schema 1): which artifact, how to feed it,
 * its sample and its full-resolution plan. Files it names live in the manifest's own folder.
 */
class Manifest(
    /** The manifest file itself. */
    val file: File,
    val modelId: String,
    val variant: String,
    /** onnx, litert or coreml. */
    val format: String,
    /** fp32, fp16, w8a8, w8a16, w8. */
    val precision: String,
    val artifactFile: String,
    val artifactSha256: String,
    val inputs: List<TensorIo>,
    val outputs: List<TensorIo>,
    val sampleFile: String?,
    /** The manifest's `full_resolution` block, parsed (null when absent). */
    val fullResolution: FullResolutionPlan?,
    /** `full_resolution.statistics.artifact.file`: a split by tiles' features artifact. */
    val featuresArtifact: String?,
    val sampleSha256: String? = null,
    val featuresSha256: String? = null,
    /** The card's parity budget for this format and precision (manifest `budget.psnr_db_min`):
     * the lowest PSNR an output may have against the sample's reference; null when the
     * manifest has none (an older camkit, a model without a card). */
    val psnrBudgetDb: Double? = null,
) {
    private val folder: File get() = file.absoluteFile.parentFile

    /** The artifact file (or folder, for an .mlpackage). */
    fun artifact(): File = File(folder, artifactFile)

    /** The sample (`.sample.npz`: `in/<name>`, `out/<name>`), or null when none is named. */
    fun sample(): File? = sampleFile?.let { File(folder, it) }

    /** The features artifact of a split by tiles, or null. */
    fun features(): File? = featuresArtifact?.let { File(folder, it) }

    /** The input named [name]. */
    fun input(name: String): TensorIo = inputs.firstOrNull { it.name == name }
        ?: throw CamkitException("${file.name} has no input '$name' (it has ${inputs.joinToString { it.name }})")

    companion object {
        /** The manifest schema this :core reads. */
        const val SCHEMA = 1

        /**
         * Reads and checks [file]: refuses an unknown schema, a tensor the app cannot feed,
         * and (with [verifySha256]) a missing artifact, features artifact or sample, or one
         * whose sha256 is not the manifest's.
         */
        fun read(file: File, verifySha256: Boolean = true): Manifest {
            ensure(file.isFile) { "no manifest at ${file.path}; push it with 'camkit app push'" }
            val where = file.name
            val obj = Json.parse(file.readText(), where)
            val schema = Json.intOrNull(obj, "schema", where)
                ?: throw CamkitException("$where is not a camkit manifest (no 'schema'); export it with camkit")
            ensure(schema == SCHEMA) {
                "$where has manifest schema $schema; this app reads schema $SCHEMA: re-export with a matching camkit or update the app"
            }
            val artifact = Json.obj(obj, "artifact", where)
            val io = Json.obj(obj, "io", where)
            val sample = Json.objOrNull(obj, "sample", where)
            val plan = Json.objOrNull(obj, "full_resolution", where)?.let { FullResolutionPlan.parse(it, where) }
            val budget = Json.objOrNull(obj, "budget", where)?.let { Json.double(it, "psnr_db_min", "$where budget") }
            val manifest = Manifest(
                file, Json.string(obj, "model_id", where), Json.string(obj, "variant", where),
                Json.string(obj, "format", where), Json.string(obj, "precision", where),
                Json.string(artifact, "file", "$where artifact"), Json.string(artifact, "sha256", "$where artifact"),
                TensorIo.parseList(io, "inputs", where), TensorIo.parseList(io, "outputs", where),
                sample?.let { Json.string(it, "file", "$where sample") }, plan,
                plan?.statistics?.artifactFile, sample?.let { Json.stringOrNull(it, "sha256", "$where sample") },
                plan?.statistics?.artifactSha256, budget,
            )
            if (verifySha256) manifest.verify()
            return manifest
        }
    }

    /** Every file this manifest names exists and has its sha256 (when the manifest gives one). */
    fun verify() {
        verifyOne("artifact", artifact(), artifactSha256)
        features()?.let { verifyOne("features artifact", it, featuresSha256) }
        sample()?.let { verifyOne("sample", it, sampleSha256) }
    }

    private fun verifyOne(what: String, target: File, sha256: String?) {
        ensure(target.exists()) {
            "the $what ${target.name} named by ${file.name} is missing; push it with 'camkit app push'"
        }
        if (sha256 == null) return
        val actual = Sha256.of(target)
        ensure(actual.equals(sha256, ignoreCase = true)) {
            "the $what ${target.name} has sha256 $actual but ${file.name} says $sha256; push it again with 'camkit app push'"
        }
    }
}
