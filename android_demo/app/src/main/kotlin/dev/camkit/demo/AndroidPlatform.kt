package dev.camkit.demo

import android.content.Context
import android.os.Build
import android.os.Debug
import android.os.PowerManager
import dev.camkit.core.DeviceInfo
import dev.camkit.core.Platform

/** What only the phone knows, for :core's Benchmark. */
class AndroidPlatform(context: Context) : Platform {
    private val power: PowerManager? = context.getSystemService(PowerManager::class.java)

    /** CLOCK_MONOTONIC on Android: unaffected by wall-clock changes, keeps counting in doze. */
    override fun nanoTime(): Long = System.nanoTime()

    /** PowerManager.getCurrentThermalStatus() (API 29) as the profile schema's words. */
    override fun thermalStatus(): String? = when (power?.currentThermalStatus) {
        PowerManager.THERMAL_STATUS_NONE -> "none"
        PowerManager.THERMAL_STATUS_LIGHT -> "light"
        PowerManager.THERMAL_STATUS_MODERATE -> "moderate"
        PowerManager.THERMAL_STATUS_SEVERE -> "severe"
        PowerManager.THERMAL_STATUS_CRITICAL -> "critical"
        PowerManager.THERMAL_STATUS_EMERGENCY -> "emergency"
        PowerManager.THERMAL_STATUS_SHUTDOWN -> "shutdown"
        else -> null
    }

    override fun device(): DeviceInfo = DeviceInfo(
        model = Build.MODEL,
        soc = socModel(),
        os = "Android ${Build.VERSION.RELEASE}",
        abi = Build.SUPPORTED_ABIS.firstOrNull(),
    )

    /** Java heap in use plus native heap allocated (LiteRT's and ORT's CPU buffers live there),
     * MB; the benchmark reports the peak's rise over the value before loading. GPU and NPU
     * driver memory is not visible here. */
    override fun memoryMb(): Double? {
        val runtime = Runtime.getRuntime()
        val java = runtime.totalMemory() - runtime.freeMemory()
        return (java + Debug.getNativeHeapAllocatedSize()) / (1024.0 * 1024.0)
    }

    override val appName: String = "camkit-android"
    override val appVersion: String? = BuildConfig.VERSION_NAME

    /** Build.SOC_MODEL exists from API 31; before that the SoC is unknown (null), not guessed. */
    private fun socModel(): String? {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.S) return null
        return Build.SOC_MODEL.takeUnless { it.isBlank() || it == Build.UNKNOWN }
    }
}
