"""The report's method section: what every number means and how it is computed."""

METHOD_HTML = """
<h2 id="method">Method</h2>
<dl class="method">
<dt>Stimulus timeline</dt>
<dd>Each respondent's recording is aligned to the stimulus: <em>stimulus time = recording time − offset</em>,
where the offset is the second of the recording at which the stimulus started playing. Frames before the
stimulus starts or after it ends (outside [0, duration)) are dropped. Second <em>s</em> holds the frames with
s ≤ stimulus time &lt; s + 1. Times come from the video container's timestamps.</dd>
<dt>Respondent</dt>
<dd>The respondent is the main face of their recording: the face track seen in the most frames (ties: the
larger face), joined by the tracks of the same face before or after it was lost (a look-away, an occlusion):
tracks never seen in a frame with those already taken, whose mean centre lies within 1.5 face widths of the
main track's and whose mean face width is within a factor of 2 of the main track's. Other faces in the recording are
ignored and never stored.</dd>
<dt>Per respondent and second</dt>
<dd>The mean of the respondent's frames in that second: the probability of each of the eight FER+ emotions
(neutral, happiness, surprise, sadness, anger, disgust, fear, contempt; temporally smoothed per face),
engagement (0–100) and attention (0–1). The respondent's <em>top emotion</em> that second is the emotion with
the highest mean probability. Every respondent counts once per second, however many frames they contribute.</dd>
<dt>Mean probability of each emotion</dt>
<dd>The mean over the respondents present that second of their mean probability of the emotion.</dd>
<dt>Share of respondents by top emotion</dt>
<dd>Of the respondents present that second, the share whose top emotion is the emotion.</dd>
<dt>Valence groups and valence score</dt>
<dd>Positive = happiness or surprise; negative = anger, disgust, fear, sadness or contempt; neutral = neutral.
The valence shares are the shares of respondents whose top emotion falls in each group. The valence score is
the mean over respondents of P(positive emotions) − P(negative emotions), from −1 to +1.</dd>
<dt>Engagement and attention, with 95% confidence intervals</dt>
<dd>Engagement (0–100) and attention (0–1) are affectlens's per-face measures (head pose, gaze proxy, eyes,
expression). A face the face mesh cannot read (too dim, small or hidden) has no engagement: it is left out of
these means, not counted as 0, while its expressions still count. The timeline shows their mean over the
respondents whose engagement was read each second; the band
is the 95% confidence interval of that mean: mean ± t<sub>0.975, n−1</sub> · s / √n, with s the sample
standard deviation over the n respondents (Student's t), clipped to the metric's range (0–100, 0–1: a mean
can never leave it). With fewer than two respondents there is no band. The shares of positive and negative
respondents carry Wilson score intervals, which stay inside 0–100 % even at 0 %, 100 % and small n.
</dd>
<dt>Headline figures</dt>
<dd>Mean engagement, mean attention and the positive and negative moments are means over respondents of each
respondent's own figure over the seconds their face was read (for the moments: the share of those seconds
whose top emotion is positive, or negative), with the Student's t interval above over respondents: the
respondent is the unit, so a longer watch weighs no more than a shorter one, and one respondent gets no
interval. Where every respondent has the same share (often 0 %: no one had a negative second) the spread is 0
and t would give an interval of no width; the moments then carry the Wilson score interval of that share with
the respondents as n. Moments print as whole percentages, or "&lt;1%" and "&gt;99%" when not exactly 0 % or
100 %, and the summary's words (which outweighs the other, the level of engagement) follow the figures as
printed. A key moment in the stimulus's last, partial second ends where the stimulus does. The summary table's
means are taken the same way.</dd>
<dt>Respondents contributing</dt>
<dd>The number of respondents with at least one detected face frame in that second (a respondent looking
away so far that no face is found, or out of frame, does not count that second).</dd>
<dt>Key moments</dt>
<dd>Peaks and dips of mean engagement and of mean happiness probability, among the seconds with a face read
for at least half as many respondents as the best-covered second. A peak must stand at least a minimum
prominence above the curve's median (5 engagement points; 0.05 of probability, and a probability peak must
exceed 0.05), a dip as far below it: one second is never both, and a flat curve has no key moment. The three
most extreme of each kind are taken greedily, at least two seconds apart. Each shows the stimulus frame at the
middle of that second (frames come from the stimulus only, never from respondents' recordings).</dd>
<dt>Comparison between tags</dt>
<dd>Respondents are grouped by the value of each tag key (respondents without the key form "(untagged)").
Per group: respondents, and the mean over respondents of each respondent's mean over the stimulus of
engagement (with its 95% CI, as above), attention, valence score and each emotion's probability; and each
group's curve of every metric (chosen from the chart's menu).</dd>
<dt>Do the groups differ? Segment tests</dt>
<dd>For every pair of groups of a tag and every metric (engagement, attention, valence score, each emotion's
probability), the difference of the group means is tested with a two-sided permutation test: the group labels
are shuffled 4,000 times among the respondents with a value (per second, those whose face was read that
second, so every shuffle keeps the two groups' observed sizes; seeded, so the report is reproducible) and the
p-value is the share of shuffles with a difference at least as large as the observed one, (1 + k) / (1 +
4000). No normality is assumed. Over the whole stimulus each respondent counts with their mean over the
seconds their face was read; per second, with their value that second. <em>Multiple comparisons</em> are controlled
with the Benjamini-Hochberg procedure at a false discovery rate of 5 %: across all the tag's pair × metric
tests for the whole-stimulus table, and across the seconds of each pair and metric for the ★ marks on the
charts. Groups of fewer than two respondents are not tested.</dd>
<dt>Norms: among your studies</dt>
<dd>Each headline figure's percentile rank among the other studies in the same database (or studies folder)
that have analysed respondents: the share of those studies with a lower value, ties counting half. With no
other study, norms are stated as unavailable. Norms compare studies, not respondents: a study with few
respondents has a wide interval, shown beside its figure.</dd>
<dt>Privacy</dt>
<dd>Only derived data is kept: per-frame measures of the main face in one Parquet file per recording, the
recordings' paths and SHA-256 hashes; videos are never copied. Respondent ids are the pseudonyms given
when recordings were added.</dd>
</dl>
"""
