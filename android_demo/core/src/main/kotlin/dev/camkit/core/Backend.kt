package dev.camkit.core

import java.io.File

/**
 * Where the app runs an artifact: [id] (as `--es backend` names it), the artifact [format] it
 * takes, the [runtime] and the [accelerator] it targets.
 */
enum class Backend(val id: String, val format: String, val runtime: String, val accelerator: String) {
    LITERT_CPU("litert-cpu", "litert", "litert", "cpu"),
    LITERT_GPU("litert-gpu", "litert", "litert", "gpu"),
    LITERT_NPU("litert-npu", "litert", "litert", "npu"),
    ORT_CPU("ort-cpu", "onnx", "onnxruntime", "cpu"),
    ORT_XNNPACK("ort-xnnpack", "onnx", "onnxruntime", "cpu"),
    ORT_NNAPI("ort-nnapi", "onnx", "onnxruntime", "npu"),
    ORT_QNN("ort-qnn", "onnx", "onnxruntime", "npu");

    /** The profile result's `runtime.delegate`: the delegate or execution provider; null on
     * the runtime's own CPU kernels. */
    val delegate: String?
        get() = when (this) {
            LITERT_CPU, ORT_CPU -> null
            LITERT_GPU -> "GPU"
            LITERT_NPU -> "NPU"
            ORT_XNNPACK -> "XNNPACK"
            ORT_NNAPI -> "NNAPI"
            ORT_QNN -> "QNN"
        }

    /** The profile result's `runtime.tool_generation`: LiteRT's CompiledModel API, or null. */
    val toolGeneration: String? get() = if (runtime == "litert") "compiled_model" else null

    companion object {
        /** The backend called [id]; an unknown id lists the known ones. */
        fun of(id: String): Backend = entries.firstOrNull { it.id == id }
            ?: throw CamkitException("unknown backend '$id'; pick one of ${entries.joinToString { it.id }}")

        /** The backends that run artifacts of [format]. */
        fun forFormat(format: String): List<Backend> = entries.filter { it.format == format }
    }
}

/**
 * How much of the graph the backend took: [delegate] as the runtime names it, nodes delegated
 * of [nodesTotal], [partitions], [fullyDelegated], and [fallbackOps]: the ops left on the CPU.
 * Null: the runtime did not say.
 */
data class Delegation(
    val delegate: String?,
    val nodesDelegated: Int?,
    val nodesTotal: Int?,
    val partitions: Int?,
    val fullyDelegated: Boolean?,
    val fallbackOps: List<String>?,
) {
    companion object {
        /** Nothing known. */
        val UNKNOWN = Delegation(null, null, null, null, null, null)
    }
}

/** A loaded artifact on one backend (the app wraps LiteRT's CompiledModel or an ORT session). */
interface ModelRunner : AutoCloseable {
    /** What the backend took of the graph. */
    val delegation: Delegation

    /** The runtime's version, or null. */
    val runtimeVersion: String?

    /** One inference: tensors by input name in, tensors by output name out. */
    fun run(inputs: Map<String, Tensor>): Map<String, Tensor>
}

/** Loads artifacts (the app implements it with LiteRT CompiledModel and ONNX Runtime). */
fun interface RunnerFactory {
    /**
     * [artifact] on [backend]. With [strict], a backend that cannot take the whole graph throws
     * [CamkitException] instead of falling back to the CPU.
     */
    fun load(artifact: File, manifest: Manifest, backend: Backend, strict: Boolean): ModelRunner
}
