"""Information sharing under the law (issue #15): consent as data, the legal-basis decision per viewer,
支援会議 members and promotion of 支援会議 information into the case file."""
