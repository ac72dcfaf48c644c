package dev.camkit.demo

import android.content.Context
import android.content.Intent
import android.os.Bundle
import android.util.Log
import android.view.WindowManager
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.Text
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import dev.camkit.core.Benchmark
import dev.camkit.core.ProfileJson
import dev.camkit.demo.runners.AppRunnerFactory
import dev.camkit.demo.runners.CPU_THREADS
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext
import java.io.File
import java.lang.ref.WeakReference

/**
 * The headless benchmark (CI, device labs, `camkit profile android-app`):
 *
 *     adb shell am start -W -n dev.camkit.demo/.HeadlessActivity -a dev.camkit.demo.action.BENCHMARK \
 *       --es manifest NAME.manifest.json --es backend litert-gpu --ei runs 20 --ei warmup 3 \
 *       --ez strict true --es out RESULT.json
 *
 * Runs :core's Benchmark off the main thread, writes `results/RESULT.json.partial` and renames
 * it to `results/RESULT.json` (the host polls for that name), then finishes. A refusal (unknown
 * backend, missing manifest, sha256 mismatch) is a result too, with `error` set.
 */
class HeadlessActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        val request = HeadlessRequest.from(intent)
        setContent {
            MaterialTheme {
                Surface(Modifier.fillMaxSize()) {
                    Text(
                        "camkit benchmark: ${request.manifest} on ${request.backend}, ${request.runs} runs " +
                            "(strict ${request.strict}); the result goes to results/${request.out}",
                        Modifier.padding(24.dp),
                    )
                }
            }
        }
        // A restored instance (the process was recreated) must not start the run a second time.
        if (savedInstanceState == null) {
            val self = WeakReference(this)
            HeadlessBenchmarks.start(applicationContext, request) {
                self.get()?.takeUnless { it.isFinishing || it.isDestroyed }?.finish()
            }
        }
    }
}

/** The intent's extras, as the contract with toolkit/profilers/android_app.py names them. */
data class HeadlessRequest(
    val manifest: String,
    val backend: String,
    val runs: Int,
    val warmup: Int,
    val strict: Boolean,
    val out: String,
    val argv: List<String>,
) {
    companion object {
        const val ACTION = "dev.camkit.demo.action.BENCHMARK"

        fun from(intent: Intent): HeadlessRequest {
            val manifest = intent.getStringExtra("manifest").orEmpty()
            val backend = intent.getStringExtra("backend").orEmpty()
            val runs = intent.getIntExtra("runs", 20)
            val warmup = intent.getIntExtra("warmup", 3)
            val strict = intent.getBooleanExtra("strict", true)
            val asked = intent.getStringExtra("out")
            val out = asked?.takeIf { it.isNotBlank() && '/' !in it && !it.startsWith(".") }
                ?: "${manifest.removeSuffix(ModelStore.MANIFEST_SUFFIX).substringAfterLast('/').ifEmpty { "result" }}-" +
                "${backend.ifEmpty { "unknown" }}.json"
            // What started the run, rebuilt from what the app received (am passes no argv).
            val argv = mutableListOf("am", "start", "-n", "dev.camkit.demo/.HeadlessActivity", "-a", intent.action ?: ACTION)
            intent.getStringExtra("manifest")?.let { argv += listOf("--es", "manifest", it) }
            intent.getStringExtra("backend")?.let { argv += listOf("--es", "backend", it) }
            if (intent.hasExtra("runs")) argv += listOf("--ei", "runs", runs.toString())
            if (intent.hasExtra("warmup")) argv += listOf("--ei", "warmup", warmup.toString())
            if (intent.hasExtra("strict")) argv += listOf("--ez", "strict", strict.toString())
            asked?.let { argv += listOf("--es", "out", it) }
            return HeadlessRequest(manifest, backend, runs, warmup, strict, out, argv)
        }
    }
}

/** Benchmarks outlive their activity (a rotation, a recreated window) and run one at a time. */
object HeadlessBenchmarks {
    private const val TAG = "camkit"
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val oneAtATime = Mutex()

    fun start(context: Context, request: HeadlessRequest, done: () -> Unit) {
        scope.launch {
            oneAtATime.withLock {
                val store = ModelStore(context)
                Log.i(TAG, "benchmark ${request.manifest} on ${request.backend}: ${request.runs} runs, " +
                    "${request.warmup} warm-up, strict ${request.strict}")
                val written = try {
                    val report = Benchmark(AppRunnerFactory(context), AndroidPlatform(context)).run(
                        File(store.artifactsDir, request.manifest), request.backend, request.runs, request.warmup,
                        request.strict, request.argv, CPU_THREADS,
                    )
                    report.error?.let { Log.w(TAG, "benchmark error (${it.kind}): ${it.message}") }
                    store.writeResult(request.out, ProfileJson.write(report))
                } catch (e: Exception) {
                    // Benchmark never throws; only writing the result can fail here.
                    Log.e(TAG, "could not write results/${request.out}: ${e.message}", e)
                    null
                }
                written?.let { Log.i(TAG, "wrote ${it.path}") }
            }
            withContext(Dispatchers.Main) { done() }
        }
    }
}
