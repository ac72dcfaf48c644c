package dev.camkit.demo.runners

import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtException
import ai.onnxruntime.OrtSession
import ai.onnxruntime.providers.NNAPIFlags
import android.content.Context
import dev.camkit.core.Backend
import dev.camkit.core.CamkitException
import dev.camkit.core.Delegation
import dev.camkit.core.Manifest
import dev.camkit.core.ModelRunner
import dev.camkit.core.Tensor
import dev.camkit.demo.BuildConfig
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.EnumSet

/**
 * ONNX Runtime's Java API (ai.onnxruntime, onnxruntime-android / onnxruntime-android-qnn 1.27:
 * OrtEnvironment, OrtSession.SessionOptions.addXnnpack/addNnapi/addQnn/addConfigEntry,
 * OnnxTensor.createTensor).
 *
 * Strict mode sets the session option `session.disable_cpu_ep_fallback` = 1: creating the
 * session fails when any node would land on the CPU execution provider. For NNAPI it also sets
 * NNAPIFlags.CPU_DISABLED, so NNAPI's own CPU reference device cannot take nodes either.
 *
 * Non-strict sessions with an execution provider profile their first run (ORT's JSON profile
 * names each node's provider, then profiling stops), so the delegation reports which op types
 * fell back to the CPU and how many nodes or fused partitions the provider ran.
 */
class OrtRunnerFactory(private val context: Context) {

    fun load(artifact: File, manifest: Manifest, backend: Backend, strict: Boolean): ModelRunner {
        val io = ArtifactIo.of(artifact, manifest)
        val env = OrtEnvironment.getEnvironment()
        val options = OrtSession.SessionOptions()
        try {
            options.setIntraOpNumThreads(CPU_THREADS)
            val provider = when (backend) {
                Backend.ORT_CPU -> null
                Backend.ORT_XNNPACK -> {
                    // ORT's XNNPACK guide: XNNPACK's own pool does the work; the session's pool
                    // is one thread and does not spin, so the two do not contend.
                    options.addXnnpack(mapOf("intra_op_num_threads" to CPU_THREADS.toString()))
                    options.setIntraOpNumThreads(1)
                    options.addConfigEntry("session.intra_op.allow_spinning", "0")
                    Provider("XNNPACK", "XnnpackExecutionProvider", fuses = false)
                }
                Backend.ORT_NNAPI -> {
                    options.addNnapi(if (strict) EnumSet.of(NNAPIFlags.CPU_DISABLED) else EnumSet.noneOf(NNAPIFlags::class.java))
                    Provider("NNAPI", "NnapiExecutionProvider", fuses = true)
                }
                Backend.ORT_QNN -> {
                    if (!BuildConfig.ORT_QNN) {
                        throw CamkitException(
                            "ort-qnn needs the app's qnn flavor (onnxruntime-android-qnn): ./gradlew :app:installQnnDebug",
                        )
                    }
                    options.addQnn(mapOf("backend_path" to "libQnnHtp.so"))
                    Provider("QNN", "QNNExecutionProvider", fuses = true)
                }
                else -> throw CamkitException("backend ${backend.id} is not an ONNX Runtime backend")
            }
            if (strict && provider != null) options.addConfigEntry("session.disable_cpu_ep_fallback", "1")
            val profiled = provider != null && !strict
            if (profiled) options.enableProfiling(File(context.cacheDir, "ort-profile-${System.nanoTime()}").absolutePath)
            val session = try {
                env.createSession(artifact.absolutePath, options)
            } catch (e: OrtException) {
                throw CamkitException(sessionFailure(backend, artifact, strict, e), e)
            }
            val delegation = when {
                provider == null -> Delegation(null, null, null, null, null, null)
                strict -> Delegation(provider.delegate, null, null, null, true, emptyList())
                else -> Delegation(provider.delegate, null, null, null, null, null)
            }
            return OrtRunner(env, session, options, io, delegation, if (profiled) provider else null)
        } catch (e: OrtException) {
            options.close()
            throw CamkitException("${backend.id}: ONNX Runtime refused its session options (${firstLine(e)})", e)
        } catch (e: Throwable) {
            options.close()
            throw e
        }
    }

    private fun sessionFailure(backend: Backend, artifact: File, strict: Boolean, e: OrtException): String {
        val why = firstLine(e)
        return if (strict && backend != Backend.ORT_CPU && "fallback" in why.lowercase()) {
            "${backend.id} (strict): some nodes of ${artifact.name} would run on the CPU execution provider ($why); " +
                "rerun with strict=false to measure it with CPU fallback (the fallback ops are then listed)"
        } else {
            "${backend.id} could not load ${artifact.name}: $why"
        }
    }
}

/** The result's delegate name, ORT's name for the execution provider in profiles, and whether
 * it compiles node groups into fused partitions (NNAPI, QNN) or runs single nodes (XNNPACK). */
internal data class Provider(val delegate: String, val epName: String, val fuses: Boolean)

private class OrtRunner(
    private val env: OrtEnvironment,
    private val session: OrtSession,
    private val options: OrtSession.SessionOptions,
    private val io: ArtifactIo,
    initial: Delegation,
    /** Set while the first run is still to be profiled. */
    private var profiling: Provider?,
) : ModelRunner {
    override val runtimeVersion: String? = BuildConfig.ORT_VERSION

    /** Updated after the first run of a profiled (non-strict) session. */
    override var delegation: Delegation = initial
        private set

    override fun run(inputs: Map<String, Tensor>): Map<String, Tensor> {
        val feeds = LinkedHashMap<String, OnnxTensor>()
        try {
            for ((name, tensor) in inputs) feeds[name] = toOnnx(name, tensor)
            session.run(feeds).use { result ->
                val outputs = LinkedHashMap<String, Tensor>()
                for (out in io.outputs) {
                    val value = result.get(out.name).orElseThrow {
                        CamkitException("the ONNX model has no output '${out.name}' named by its manifest; re-export it")
                    } as? OnnxTensor ?: throw CamkitException("output '${out.name}' is not a tensor")
                    outputs[out.name] = fromOnnx(out.name, value)
                }
                profiling?.let { finishProfiling(it) }
                return outputs
            }
        } catch (e: OrtException) {
            throw CamkitException("ONNX Runtime failed to run: ${firstLine(e)}", e)
        } finally {
            feeds.values.forEach { it.close() }
        }
    }

    private fun toOnnx(name: String, tensor: Tensor): OnnxTensor {
        val shape = LongArray(tensor.shape.size) { tensor.shape[it].toLong() }
        val floats = tensor.floats
        return if (floats != null) {
            val buffer = ByteBuffer.allocateDirect(floats.size * 4).order(ByteOrder.nativeOrder())
            buffer.asFloatBuffer().put(floats)
            OnnxTensor.createTensor(env, buffer.asFloatBuffer(), shape)
        } else {
            val bytes = tensor.bytes!!
            val buffer = ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder())
            buffer.put(bytes).rewind()
            OnnxTensor.createTensor(env, buffer, shape, OnnxJavaType.UINT8)
        }
    }

    private fun fromOnnx(name: String, value: OnnxTensor): Tensor {
        val shape = value.info.getShape().map { it.toInt() }.toIntArray()
        return when (value.info.type) {
            OnnxJavaType.FLOAT -> {
                val fb = value.floatBuffer
                Tensor(shape, floats = FloatArray(fb.remaining()).also { fb.get(it) })
            }
            OnnxJavaType.UINT8 -> {
                val bb = value.byteBuffer
                Tensor(shape, bytes = ByteArray(bb.remaining()).also { bb.get(it) })
            }
            else -> throw CamkitException("output '$name' is ${value.info.type}; the app reads float32 and uint8 outputs")
        }
    }

    /** Ends profiling after the first run and reads which provider ran each node. */
    private fun finishProfiling(provider: Provider) {
        profiling = null
        val path = session.endProfiling()
        val file = File(path)
        try {
            delegation = OrtProfile.delegation(file.readText(), provider)
        } catch (e: Exception) {
            // An unreadable profile leaves the delegation unknown rather than guessed.
            android.util.Log.w("camkit", "could not read ORT profile $path: ${firstLine(e)}")
        } finally {
            file.delete()
        }
    }

    override fun close() {
        // A session closed before its first run still has a profile open: end it, drop the file.
        if (profiling != null) runCatching { File(session.endProfiling()).delete() }
        session.close()
        options.close()
    }
}
