package dev.camkit.core

import com.google.gson.JsonObject

/**
 * Tiles of [tileH] x [tileW] (the artifact's input), [margin] px discarded at interior tile
 * edges, [blend] px of linear cross-fade after them; origins on multiples of [align]
 * (toolkit/fullres.py `TilePlan`).
 */
data class TilePlan(val tileH: Int, val tileW: Int, val margin: Int, val blend: Int, val align: Int = 1) {
    init {
        ensure(align >= 1 && tileH % align == 0 && tileW % align == 0) {
            "tile ${tileH}x$tileW must be a multiple of the size multiple $align; re-export"
        }
        ensure(margin >= 0 && blend >= 1) { "tile margin must be >= 0 and blend >= 1, got $margin, $blend" }
        ensure(minOf(tileH, tileW) > 2 * overlap) {
            "a ${tileH}x$tileW tile is too small for margin $margin and blend $blend; re-export a larger size"
        }
    }

    /** Pixels two neighbouring tiles share: 2 margin + blend. */
    val overlap: Int get() = 2 * margin + blend
}

/** One thumbnail input of a split (`full_resolution.thumbnails[]`): [input] is the thumbnail
 * of [of], [height] x [width], made by [resize] ("mosaic" with [cells], or "adaptive_average"). */
data class ThumbnailEntry(
    val input: String, val of: String, val height: Int, val width: Int, val resize: String, val cells: Int?,
)

/**
 * A split by tiles' statistics pass (`full_resolution.statistics`): the features artifact runs
 * over the photo by tiles of [tileH] x [tileW] (zeros past the photo), origins [stepH] /
 * [stepW] apart; its features (stride [stride], receptive field [before] / [after] px around
 * each anchor) are averaged into the input [into] names. [artifactInputs] / [artifactOutputs]:
 * the features artifact's io (null when the plan does not name it: NHWC float32 then).
 */
data class StatisticsEntry(
    val inputs: List<String>,
    val into: Map<String, String>,
    val output: String,
    val tileH: Int,
    val tileW: Int,
    val stride: Int,
    val before: Int,
    val after: Int,
    val stepH: Int,
    val stepW: Int,
    val artifactFile: String? = null,
    val artifactSha256: String? = null,
    val artifactInputs: List<TensorIo>? = null,
    val artifactOutputs: List<TensorIo>? = null,
)

/**
 * A manifest's `full_resolution` block. [strategy]: "tiles" or "split" ([tiles] set, plus
 * [thumbnails] or [statistics] for a split), "whole" (a dynamic artifact: the photo at its own
 * size, reflected up to [sizeMultiple]), or "resize" (lossy: to [resizeTo] and back).
 * A [version] this app does not know is kept as read and refused by [FullResolution].
 */
data class FullResolutionPlan(
    val version: Int,
    val strategy: String,
    val tiles: TilePlan? = null,
    val thumbnails: List<ThumbnailEntry> = emptyList(),
    val statistics: StatisticsEntry? = null,
    val sizeMultiple: Int? = null,
    val resizeTo: List<Int>? = null,
) {
    companion object {
        /** The plan version this :core runs. */
        const val VERSION = 1

        /** Parses [json] (a `full_resolution` block, as in `plan.json` of the fixtures). */
        fun parse(json: String, where: String = "full_resolution"): FullResolutionPlan =
            parse(Json.parse(json, where), where)

        /** Parses a `full_resolution` object of the manifest [where]. */
        fun parse(obj: JsonObject, where: String): FullResolutionPlan {
            val at = "$where full_resolution"
            val version = Json.intOrNull(obj, "version", at) ?: -1
            val strategy = Json.stringOrNull(obj, "strategy", at) ?: "unknown"
            if (version != VERSION) return FullResolutionPlan(version, strategy)
            return when (strategy) {
                "tiles", "split" -> FullResolutionPlan(
                    version, strategy, tilePlan(obj, at),
                    Json.arrayOrNull(obj, "thumbnails", at)?.map { thumbnail(it.asJsonObject, at) } ?: emptyList(),
                    Json.objOrNull(obj, "statistics", at)?.let { statistics(it, "$at statistics") },
                )
                "whole" -> FullResolutionPlan(version, strategy, sizeMultiple = Json.intOrNull(obj, "size_multiple", at) ?: 1)
                "resize" -> FullResolutionPlan(version, strategy, resizeTo = Json.ints(obj, "size", at))
                else -> FullResolutionPlan(version, strategy)
            }
        }

        private fun tilePlan(obj: JsonObject, at: String): TilePlan {
            val tile = Json.ints(obj, "tile", at)
            ensure(tile.size == 2) { "$at: 'tile' must be [height, width], got $tile" }
            return TilePlan(tile[0], tile[1], Json.int(obj, "margin", at), Json.int(obj, "blend", at),
                Json.intOrNull(obj, "align", at) ?: 1)
        }

        private fun thumbnail(obj: JsonObject, at: String): ThumbnailEntry {
            val size = Json.ints(obj, "size", "$at thumbnails")
            return ThumbnailEntry(
                Json.string(obj, "input", "$at thumbnails"), Json.string(obj, "of", "$at thumbnails"),
                size[0], size[1], Json.stringOrNull(obj, "resize", at) ?: "adaptive_average",
                Json.intOrNull(obj, "cells", at),
            )
        }

        private fun statistics(obj: JsonObject, at: String): StatisticsEntry {
            val tile = Json.ints(obj, "tile", at)
            val step = Json.ints(obj, "step", at)
            val into = Json.obj(obj, "into", at).entrySet().associate { it.key to it.value.asString }
            val artifact = Json.objOrNull(obj, "artifact", at)
            val io = artifact?.let { Json.objOrNull(it, "io", "$at artifact") }
            val name = artifact?.let { Json.string(it, "file", "$at artifact") } ?: at
            return StatisticsEntry(
                Json.strings(obj, "inputs", at), into, Json.stringOrNull(obj, "output", at) ?: "features",
                tile[0], tile[1], Json.int(obj, "stride", at), Json.int(obj, "before", at), Json.int(obj, "after", at),
                step[0], step[1], artifact?.let { Json.string(it, "file", "$at artifact") },
                artifact?.let { Json.stringOrNull(it, "sha256", "$at artifact") },
                io?.let { TensorIo.parseList(it, "inputs", name) }, io?.let { TensorIo.parseList(it, "outputs", name) },
            )
        }
    }
}
