package dev.camkit.demo.runners

import android.content.Context
import android.os.Build
import com.google.ai.edge.litert.Accelerator
import com.google.ai.edge.litert.BuiltinNpuAcceleratorProvider
import com.google.ai.edge.litert.CompiledModel
import com.google.ai.edge.litert.Environment
import com.google.ai.edge.litert.LiteRtException
import com.google.ai.edge.litert.TensorBuffer
import dev.camkit.core.Backend
import dev.camkit.core.CamkitException
import dev.camkit.core.Delegation
import dev.camkit.core.Manifest
import dev.camkit.core.ModelRunner
import dev.camkit.core.Tensor
import dev.camkit.core.TensorIo
import dev.camkit.demo.BuildConfig
import java.io.File

/**
 * LiteRT's CompiledModel API (com.google.ai.edge.litert, Kotlin API as of 2.2/2.3: Model.kt,
 * Environment.kt, TensorBuffer.kt, Common.kt in google-ai-edge/LiteRT litert/kotlin).
 *
 * Strict mode is LiteRT's own: the compilation's accelerator set leaves the CPU out, and the
 * runtime then refuses to compile a graph the accelerator cannot take whole ("Some ops are not
 * accelerated. Add kLiteRtHwAcceleratorCpu ...", litert/runtime/compiled_model.cc). For the NPU
 * the set is {NPU, NONE}: CompiledModel.create adds the CPU when NPU is the only member, and the
 * JNI ignores NONE. Non-strict sets add the CPU, which takes whatever the accelerator does not.
 *
 * What the Kotlin API reveals of the delegation: whether the accelerator is available
 * (Environment.getAvailableAccelerators) and, in strict mode, that the whole graph went to it.
 * Node counts, partitions and which ops fell back are not exposed (the C API's
 * LiteRtCompiledModelIsFullyAccelerated has no Kotlin binding), so they are reported as unknown.
 *
 * No compiler cache is configured, so every load is a full compile: the cold and warm loads
 * the benchmark reports differ only by what the OS and drivers keep.
 */
class LiteRtRunnerFactory(private val context: Context) {

    fun load(artifact: File, manifest: Manifest, backend: Backend, strict: Boolean): ModelRunner {
        val io = ArtifactIo.of(artifact, manifest)
        val wanted = when (backend.accelerator) {
            "cpu" -> Accelerator.CPU
            "gpu" -> Accelerator.GPU
            "npu" -> Accelerator.NPU
            else -> throw CamkitException("backend ${backend.id}: LiteRT has no '${backend.accelerator}' accelerator")
        }
        val env = try {
            if (wanted == Accelerator.NPU) Environment.create(BuiltinNpuAcceleratorProvider(context)) else Environment.create()
        } catch (e: LiteRtException) {
            throw CamkitException("${backend.id}: the LiteRT environment failed to start (${firstLine(e)})", e)
        }
        try {
            val available = env.getAvailableAccelerators()
            val onAccelerator = wanted == Accelerator.CPU || wanted in available
            if (!onAccelerator && strict) {
                throw CamkitException(
                    "${backend.id}: this device's LiteRT offers ${available.joinToString { it.name }} but not ${wanted.name}" +
                        npuHint(wanted) + "; run with strict=false to measure it on the CPU instead, labelled as such",
                )
            }
            val accelerators = when {
                wanted == Accelerator.CPU || !onAccelerator -> setOf(Accelerator.CPU)
                !strict -> setOf(wanted, Accelerator.CPU)
                wanted == Accelerator.NPU -> setOf(Accelerator.NPU, Accelerator.NONE)
                else -> setOf(wanted)
            }
            val options = CompiledModel.Options(accelerators).apply {
                cpuOptions = CompiledModel.CpuOptions(numThreads = CPU_THREADS)
            }
            val model = try {
                CompiledModel.create(artifact.absolutePath, options, env)
            } catch (e: LiteRtException) {
                throw CamkitException(compileFailure(backend, artifact, strict, e), e)
            }
            val delegation = when {
                wanted == Accelerator.CPU -> Delegation(null, null, null, null, null, null)
                !onAccelerator -> Delegation(null, null, null, null, false, null)
                strict -> Delegation(wanted.name, null, null, null, true, emptyList())
                else -> Delegation(wanted.name, null, null, null, null, null)
            }
            return try {
                LiteRtRunner(model, env, io, delegation)
            } catch (e: Throwable) {
                model.close()
                throw e
            }
        } catch (e: Throwable) {
            env.close()
            throw e
        }
    }

    private fun npuHint(wanted: Accelerator): String =
        if (wanted != Accelerator.NPU) "" else {
            val soc = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) "${Build.SOC_MANUFACTURER} ${Build.SOC_MODEL}" else "this SoC"
            " ($soc is not on LiteRT's NPU list, or the vendor's dispatch library is not in the APK)"
        }

    /** LiteRT's C API may pass the reason as a bare status, so a strict failure on an
     * accelerator always names the likely cause and the way out. */
    private fun compileFailure(backend: Backend, artifact: File, strict: Boolean, e: LiteRtException): String {
        val why = firstLine(e)
        val unit = backend.accelerator.uppercase()
        return if (strict && backend.accelerator != "cpu") {
            "${backend.id} (strict) could not compile ${artifact.name} on the $unit alone ($why); when ops are left off " +
                "the $unit, rerun with strict=false to let LiteRT run them on the CPU, or export ops the $unit supports"
        } else {
            "${backend.id} could not compile ${artifact.name}: $why"
        }
    }
}

/** One compiled model with its buffers, reused across runs (inputs and outputs by name). */
private class LiteRtRunner(
    private val model: CompiledModel,
    private val env: Environment,
    private val io: ArtifactIo,
    override val delegation: Delegation,
) : ModelRunner {
    override val runtimeVersion: String? = BuildConfig.LITERT_VERSION

    private val inputBuffers = LinkedHashMap<String, TensorBuffer>()
    private val inputShapes = HashMap<String, List<Int>?>()
    private val outputBuffers: Map<String, TensorBuffer> = io.outputs.associate { it.name to createOutput(it.name) }
    private val outputShapes: Map<String, IntArray> = io.outputs.associate { it.name to outputShape(it) }

    override fun run(inputs: Map<String, Tensor>): Map<String, Tensor> {
        try {
            for ((name, tensor) in inputs) {
                checkShape(name, tensor)
                val buffer = inputBuffers.getOrPut(name) { model.createInputBuffer(name) }
                val floats = tensor.floats
                if (floats != null) buffer.writeFloat(floats) else buffer.writeInt8(tensor.bytes!!)
            }
            model.run(inputs.keys.associateWith { inputBuffers.getValue(it) }, outputBuffers)
            return io.outputs.associate { out ->
                val buffer = outputBuffers.getValue(out.name)
                val shape = outputShapes.getValue(out.name)
                out.name to if (out.dtype == "uint8") Tensor(shape, bytes = buffer.readInt8()) else Tensor(shape, floats = buffer.readFloat())
            }
        } catch (e: LiteRtException) {
            throw CamkitException("LiteRT failed to run: ${firstLine(e)}", e)
        }
    }

    /** The Kotlin API cannot resize inputs: a tensor must have the compiled shape. */
    private fun checkShape(name: String, tensor: Tensor) {
        val compiled = inputShapes.getOrPut(name) {
            try {
                model.getInputTensorType(name).layout?.dimensions
            } catch (e: LiteRtException) {
                val known = io.inputs.joinToString { it.name }
                throw CamkitException("the LiteRT model has no input '$name' (the manifest lists $known); re-export it", e)
            }
        } ?: return
        if (compiled != tensor.shape.toList()) {
            throw CamkitException(
                "input '$name' has shape ${tensor.shape.toList()} but the compiled LiteRT model takes $compiled; " +
                    "LiteRT's Kotlin API cannot resize inputs: export the artifact at this size",
            )
        }
    }

    private fun createOutput(name: String): TensorBuffer = try {
        model.createOutputBuffer(name)
    } catch (e: LiteRtException) {
        throw CamkitException("the LiteRT model has no output '$name' named by its manifest (${firstLine(e)}); re-export it", e)
    }

    /** The compiled output shape, or the manifest's when the runtime gives no layout. */
    private fun outputShape(out: TensorIo): IntArray {
        val dims = try {
            model.getOutputTensorType(out.name).layout?.dimensions ?: out.shape
        } catch (e: LiteRtException) {
            throw CamkitException("LiteRT cannot describe output '${out.name}' (${firstLine(e)}); re-export the artifact", e)
        }
        if (dims.any { it < 0 }) {
            throw CamkitException("output '${out.name}' has a dynamic shape $dims after compiling; export a static size for LiteRT")
        }
        return dims.toIntArray()
    }

    override fun close() {
        inputBuffers.values.forEach { it.close() }
        outputBuffers.values.forEach { it.close() }
        model.close()
        env.close()
    }
}

internal fun firstLine(e: Throwable): String =
    (e.message ?: e.javaClass.simpleName).lineSequence().first().trim()
