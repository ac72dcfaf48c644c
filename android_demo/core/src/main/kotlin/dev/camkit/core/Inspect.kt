package dev.camkit.core

import com.google.gson.GsonBuilder
import com.google.gson.JsonArray
import com.google.gson.JsonObject
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import kotlin.system.exitProcess

/**
 * `java -cp core.jar:gson.jar:kotlin-stdlib.jar dev.camkit.core.InspectKt MANIFEST...`: reads
 * each manifest exactly as the app does (every refusal and sha256 check applies) and prints one
 * JSON object per manifest on its own line: the tensors, the parity budget, the plan's
 * strategy, and per sample array its shape and the sha256 of its float32 little-endian values;
 * for a float32 image input, the largest difference after unpacking it to pixels and packing it
 * back (0 for a sample made of 8-bit pixels). A refused manifest prints `"ok": false` and the
 * refusal; the exit status is 1 when any was refused.
 *
 * On a host it answers "will the app take this artifact?" before a push; camkit's tests run it
 * on freshly exported artifacts and compare every number with numpy's.
 */
fun main(args: Array<String>) {
    if (args.isEmpty()) {
        System.err.println("usage: InspectKt MANIFEST...")
        exitProcess(2)
    }
    val gson = GsonBuilder().serializeSpecialFloatingPointValues().disableHtmlEscaping().create()
    var refused = 0
    for (path in args) {
        val line = try {
            inspect(Manifest.read(File(path)))
        } catch (e: CamkitException) {
            refused++
            JsonObject().apply {
                addProperty("manifest", File(path).name)
                addProperty("ok", false)
                addProperty("error", e.message)
            }
        }
        println(gson.toJson(line))
    }
    exitProcess(if (refused == 0) 0 else 1)
}

/** What [main] prints for a manifest the app accepts. */
fun inspect(m: Manifest): JsonObject = JsonObject().apply {
    addProperty("manifest", m.file.name)
    addProperty("ok", true)
    addProperty("format", m.format)
    addProperty("precision", m.precision)
    addProperty("strategy", m.fullResolution?.strategy)
    addProperty("psnr_budget_db", m.psnrBudgetDb)
    add("inputs", tensors(m.inputs))
    add("outputs", tensors(m.outputs))
    val arrays = JsonObject()
    val sample = m.sample()?.let { Npz.read(it) } ?: emptyMap()
    for ((key, t) in sample.toSortedMap()) {
        arrays.add(key, JsonObject().apply {
            add("shape", JsonArray().apply { t.shape.forEach { add(it) } })
            addProperty("sha256", Sha256.of(littleEndian(t.toFloats(null))))
            val io = m.inputs.firstOrNull { "in/${it.name}" == key }
            if (io != null && io.role == "image" && io.dtype == "float32" && t.floats != null) {
                val back = Packing.pack(Packing.unpack(t, io), io)
                addProperty("repack_max_abs", Metrics.maxAbs(t.floats, back.floats!!))
            }
        })
    }
    add("arrays", arrays)
}

private fun tensors(list: List<TensorIo>) = JsonArray().apply {
    for (io in list) add(JsonObject().apply {
        addProperty("name", io.name)
        add("shape", JsonArray().apply { io.shape.forEach { add(it) } })
        addProperty("dtype", io.dtype)
        addProperty("layout", io.layout)
        addProperty("role", io.role)
    })
}

private fun littleEndian(values: FloatArray): ByteArray {
    val buf = ByteBuffer.allocate(4 * values.size).order(ByteOrder.LITTLE_ENDIAN)
    buf.asFloatBuffer().put(values)
    return buf.array()
}
